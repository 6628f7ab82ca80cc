// SPDX-License-Identifier: GPL-2.0-only
#include "stackprof_symbols.h"

#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

namespace bpfkit::stackprof {

namespace {

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

bool file_readable(const std::string &path) {
    return access(path.c_str(), R_OK) == 0;
}

std::string hex(uint64_t v) {
    char b[24];
    snprintf(b, sizeof(b), "0x%" PRIx64, v);
    return b;
}

std::string base_name(const std::string &p) {
    size_t s = p.rfind('/');
    return s == std::string::npos ? p : p.substr(s + 1);
}

// The pid a process has in its own pid namespace (the last NSpid field).
uint32_t ns_pid(uint32_t tgid) {
    std::string st = read_file("/proc/" + std::to_string(tgid) + "/status");
    size_t at = st.find("\nNSpid:");
    if (at == std::string::npos) return tgid;
    size_t end = st.find('\n', at + 1);
    std::istringstream line(st.substr(at + 7, end - at - 7));
    uint32_t v = tgid, last = tgid;
    while (line >> v)
        last = v;
    return last;
}

// Opens the file of mapping m (path without " (deleted)") of process tgid:
// through the process's root, else its map_files entry (a deleted file, or
// one the root does not reach). Sets `file` to the name it opened; -1 if none.
int open_mapped(uint32_t tgid, const MapLine &m, const std::string &path, bool gone,
                std::string &file) {
    const std::string proc = "/proc/" + std::to_string(tgid);
    file = proc + "/root" + path;
    int fd = gone ? -1 : open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char b[64];
        snprintf(b, sizeof(b), "/map_files/%" PRIx64 "-%" PRIx64, m.start, m.end);
        file = proc + b;
        fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    }
    return fd;
}

char *debuginfo_path = nullptr;
const Dwfl_Callbacks kCallbacks = {
    dwfl_build_id_find_elf,
    dwfl_standard_find_debuginfo,
    dwfl_offline_section_address,
    &debuginfo_path,
};

}  // namespace

// A module's functions, sorted, at offsets from the module's start: built
// once per ELF file (by build-id) and shared by every process that maps it.
// libdwfl's own dwfl_module_addrinfo walks the whole symbol table per lookup.
struct SymTable {
    struct Sym {
        uint64_t start, size;
        std::string name;
        int rank;  // among aliases, lower first: global, weak, local; fewer leading '_'
    };
    std::vector<Sym> syms;

    static std::shared_ptr<SymTable> build(Dwfl_Module *mod, uint64_t low) {
        auto t = std::make_shared<SymTable>();
        int n = dwfl_module_getsymtab(mod);
        for (int i = 1; i < n; i++) {
            GElf_Sym sym;
            GElf_Addr addr = 0;
            GElf_Word shndx = 0;
            const char *name =
                dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, nullptr, nullptr);
            if (!name || !*name || shndx == SHN_UNDEF || addr < low) continue;
            int type = GELF_ST_TYPE(sym.st_info);
            if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
            std::string nm = name;
            // "__libc_start_main@@GLIBC_2.34": the version is not the name.
            if (size_t at = nm.find('@'); at != std::string::npos && at > 0) nm.resize(at);
            int bind = GELF_ST_BIND(sym.st_info);
            int rank = (bind == STB_GLOBAL ? 0
                        : bind == STB_WEAK ? 1
                                           : 2) *
                           1000 +
                       static_cast<int>(std::min<size_t>(nm.find_first_not_of('_'), 999));
            t->syms.push_back(Sym{addr - low, sym.st_size, std::move(nm), rank});
        }
        // Aliases (read, __read, __libc_read): the public name first, as
        // libdwfl's own lookup and perf show them.
        std::stable_sort(t->syms.begin(), t->syms.end(), [](const Sym &a, const Sym &b) {
            return a.start != b.start ? a.start < b.start : a.rank < b.rank;
        });
        return t;
    }

    const Sym *find(uint64_t off) const {
        auto it = std::upper_bound(syms.begin(), syms.end(), off,
                                   [](uint64_t o, const Sym &s) { return o < s.start; });
        if (it == syms.begin()) return nullptr;
        // Among symbols at one address, the first with a size.
        auto first = std::prev(it);
        while (first != syms.begin() && std::prev(first)->start == first->start)
            --first;
        for (auto c = first; c != it; ++c)
            if (c->size && off < c->start + c->size) return &*c;
        // A symbol without a size reaches to the next one.
        if (!first->size && (it == syms.end() || off < it->start)) return &*first;
        return nullptr;
    }
};

// One mapped ELF file, opened once for all the processes that map it (by
// device and inode): its own libdwfl session, the file at its link-time
// addresses, its load segments for each process's bias, its function table.
// A process that maps a file seen before costs a line of its maps, not an
// open, an mmap and an ELF parse (a busy machine starts hundreds a second).
struct FileSyms {
    Dwfl *dwfl = nullptr;
    Dwfl_Module *mod = nullptr;
    uint64_t low = 0;      // the module's first address (link time)
    bool is_exec = false;  // ET_EXEC: loaded at its link-time addresses
    std::vector<GElf_Phdr> loads;
    std::string name;  // its path in the process that mapped it first
    std::shared_ptr<SymTable> table;
    FileSyms() = default;
    FileSyms(const FileSyms &) = delete;
    FileSyms &operator=(const FileSyms &) = delete;
    ~FileSyms() {
        if (dwfl) dwfl_end(dwfl);
    }
};

class FileCache {
  public:
    // The file of mapping m (path without " (deleted)") of process tgid,
    // opened through the process's root, else its map_files entry; nullptr
    // if it cannot be opened or is not ELF. same_ns (asked when the file is
    // new): the process sees the files we see (then libdwfl looks for a
    // .gnu_debuglink file beside the path, which outlives the process).
    FileSyms *get(uint32_t tgid, const MapLine &m, const std::string &path, bool gone,
                  const std::function<bool()> &same_ns, SymbolStats &st) {
        if (m.inode == 0) return nullptr;
        auto &slot = files_[{m.dev, m.inode}];
        if (slot) return slot.get();
        auto f = open_file(tgid, m, path, gone, same_ns());
        if (!f) {
            files_.erase({m.dev, m.inode});  // another process may open it
            return nullptr;
        }
        st.modules++;
        slot = std::move(f);
        return slot.get();
    }

    // The file's function table, by build-id (else by the file), shared.
    const SymTable &table(FileSyms &f) {
        if (f.table) return *f.table;
        const unsigned char *bits = nullptr;
        GElf_Addr vaddr = 0;
        int len = dwfl_module_build_id(f.mod, &bits, &vaddr);
        if (len > 0) {
            std::string key = "id:";
            for (int i = 0; i < len; i++) {
                char b[3];
                snprintf(b, sizeof(b), "%02x", bits[i]);
                key += b;
            }
            auto &t = tables_[key];
            if (!t) t = SymTable::build(f.mod, f.low);
            f.table = t;
        } else {
            f.table = SymTable::build(f.mod, f.low);
        }
        return *f.table;
    }

  private:
    static std::unique_ptr<FileSyms> open_file(uint32_t tgid, const MapLine &m,
                                               const std::string &path, bool gone, bool same_ns) {
        std::string file;
        int fd = open_mapped(tgid, m, path, gone, file);
        if (fd < 0) return nullptr;
        auto f = std::make_unique<FileSyms>();
        f->name = path;
        Elf *e = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
        GElf_Ehdr eh;
        bool ok = e && gelf_getehdr(e, &eh);
        if (ok) {
            f->is_exec = eh.e_type == ET_EXEC;
            size_t n = 0;
            elf_getphdrnum(e, &n);
            for (size_t i = 0; i < n; i++) {
                GElf_Phdr ph;
                if (gelf_getphdr(e, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
                    f->loads.push_back(ph);
            }
        }
        if (e) elf_end(e);
        f->dwfl = ok ? dwfl_begin(&kCallbacks) : nullptr;
        if (!f->dwfl) {
            close(fd);
            return nullptr;
        }
        // At its link-time addresses (base 0); fd is libdwfl's on success.
        // The name is where libdwfl looks for the .gnu_debuglink file, later,
        // maybe after the process is gone with its /proc directory.
        const std::string &named = same_ns && file != path ? path : file;
        dwfl_report_begin(f->dwfl);
        f->mod = dwfl_report_elf(f->dwfl, path.c_str(), named.c_str(), fd, 0, true);
        dwfl_report_end(f->dwfl, nullptr, nullptr);
        if (!f->mod) {
            close(fd);
            return nullptr;
        }
        Dwarf_Addr low = 0;
        dwfl_module_info(f->mod, nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
        f->low = low;
        return f;
    }

    std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<FileSyms>> files_;
    std::map<std::string, std::shared_ptr<SymTable>> tables_;  // by build-id
};

bool KernelSymbols::load(const std::string &path) {
    syms_.clear();
    FILE *f = fopen(path.c_str(), "re");
    if (!f) return false;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long addr;
        char type;
        char name[256];
        if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3) continue;
        if (addr == 0) continue;
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
        syms_.push_back({addr, name});
    }
    fclose(f);
    std::sort(syms_.begin(), syms_.end(),
              [](const Sym &a, const Sym &b) { return a.addr < b.addr; });
    return !syms_.empty();
}

std::string KernelSymbols::name(uint64_t addr) const {
    auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                               [](uint64_t a, const Sym &s) { return a < s.addr; });
    if (it == syms_.begin()) return {};
    return std::prev(it)->name;
}

// One process's address space as it was when first seen: its executable
// mappings, each with the file (shared, see FileCache) and the process's
// bias for it. With unwinding (DWARF mode) also a libdwfl session of its
// own, with every file at its address, for dwfl_getthread_frames.
class ProcessSymbols {
  public:
    ProcessSymbols(uint32_t tgid, FileCache &files, bool unwinding)
        : tgid_(tgid), files_(files), unwinding_(unwinding) {}
    ~ProcessSymbols() {
        if (dwfl_) dwfl_end(dwfl_);
    }

    bool capture(SymbolStats &st, double now_ms) {
        first_seen_ms_ = now_ms;
        if (unwinding_) {
            dwfl_ = dwfl_begin(&kCallbacks);
            if (!dwfl_) return false;
        }
        if (!refresh(st)) return false;
        perf_map_path_ = "/proc/" + std::to_string(tgid_) + "/root/tmp/perf-" +
                         std::to_string(ns_pid(tgid_)) + ".map";
        perf_map_ = parse_perf_map(read_file(perf_map_path_));
        return true;
    }

    // Reads the maps again and takes the files mapped since: a process is
    // often first seen in the dynamic loader, before its libraries are
    // mapped, or just before an exec. False if the maps cannot be read.
    bool refresh(SymbolStats &st) {
        std::string text = read_file("/proc/" + std::to_string(tgid_) + "/maps");
        if (text.empty()) return false;
        if (text == maps_text_) return true;
        maps_text_ = text;
        for (auto &m : parse_maps(text)) {
            bool known = std::any_of(maps_.begin(), maps_.end(), [&](const MapLine &o) {
                return o.start == m.start && o.end == m.end && o.path == m.path;
            });
            if (!known) maps_.push_back(std::move(m));
        }
        if (dwfl_) dwfl_report_begin_add(dwfl_);
        for (const auto &m : maps_) {
            if (m.path.empty() || m.path[0] != '/') continue;
            if (!m.exec && !(dwfl_ && any_exec(m.path))) continue;
            std::string path = m.path;
            const std::string deleted = " (deleted)";
            bool gone = path.size() > deleted.size() &&
                        path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0;
            if (gone) path.resize(path.size() - deleted.size());
            if (m.exec) map_file(m, path, gone, st);
            if (dwfl_ && !done_.count(path)) {
                if (report(m, path, gone))
                    done_[path] = true;
                else if (m.exec)
                    done_[path] = false;
            }
        }
        if (dwfl_) dwfl_report_end(dwfl_, nullptr, nullptr);
        cache_.clear();
        return true;
    }

    double first_seen_ms() const { return first_seen_ms_; }

    std::string user(uint64_t addr, bool call_site) {
        auto it = cache_.find(addr);
        if (it != cache_.end()) return it->second;
        std::string n = lookup(call_site && addr > 0 ? addr - 1 : addr);
        cache_.emplace(addr, n);
        return n;
    }

    std::vector<UserFrame> unwind(uint32_t tid, const StackCopy &copy) {
        std::vector<UserFrame> frames;
        if (!dwfl_) return frames;
        if (!attached_) {
            static const Dwfl_Thread_Callbacks cb = {
                next_thread, get_thread, memory_read, set_initial_registers, nullptr, nullptr,
            };
            if (!dwfl_attach_state(dwfl_, nullptr, static_cast<pid_t>(tgid_), &cb, this))
                return {UserFrame{copy.ip, false}};
            attached_ = true;
        }
        cur_ = &copy;
        cur_tid_ = tid;
        out_ = &frames;
        dwfl_getthread_frames(dwfl_, static_cast<pid_t>(tid), frame_cb, this);
        cur_ = nullptr;
        out_ = nullptr;
        if (frames.empty()) frames.push_back(UserFrame{copy.ip, false});
        return frames;
    }

  private:
    // Whether the process sees the files we see (checked once, while it runs).
    bool same_mount_ns() {
        if (same_ns_ < 0) {
            // "mnt:[INODE]" names the namespace
            std::error_code e1, e2;
            const auto ours = std::filesystem::read_symlink("/proc/self/ns/mnt", e1);
            const auto theirs =
                std::filesystem::read_symlink("/proc/" + std::to_string(tgid_) + "/ns/mnt", e2);
            same_ns_ = !e1 && !e2 && ours == theirs;
        }
        return same_ns_ == 1;
    }

    bool any_exec(const std::string &path) const {
        for (const auto &m : maps_)
            if (m.exec && m.path == path) return true;
        return false;
    }

    // DWARF mode: reports one mapped file to the process's own libdwfl
    // session at the bias its mapping gives.
    bool report(const MapLine &first, const std::string &path, bool gone) {
        std::string file;
        int fd = open_mapped(tgid_, first, path, gone, file);
        if (fd < 0) return false;
        // The bias: where vaddr 0 of the file is, from any mapping of it
        // that falls in a PT_LOAD segment.
        Elf *e = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
        GElf_Ehdr eh;
        bool found = false;
        uint64_t bias = 0;
        if (e && gelf_getehdr(e, &eh)) {
            if (eh.e_type == ET_EXEC) {
                found = true;
            } else {
                size_t n = 0;
                elf_getphdrnum(e, &n);
                for (const auto &m : maps_) {
                    if (found) break;
                    if (m.path.compare(0, path.size(), path) != 0) continue;
                    for (size_t i = 0; i < n && !found; i++) {
                        GElf_Phdr ph;
                        if (!gelf_getphdr(e, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD)
                            continue;
                        uint64_t seg_off = ph.p_offset & ~uint64_t{0xfff};
                        if (m.offset < seg_off || m.offset >= ph.p_offset + ph.p_filesz) continue;
                        bias = m.start - (ph.p_vaddr + m.offset - ph.p_offset);
                        found = true;
                    }
                }
            }
        }
        if (e) elf_end(e);
        if (!found) {
            close(fd);
            return false;
        }
        // fd is consumed by libdwfl on success. The file's name is where
        // libdwfl looks for its .gnu_debuglink file, later, maybe after the
        // process is gone with its /proc directory: a process in our mount
        // namespace sees the file at its own path.
        const std::string &named = same_mount_ns() && file != path ? path : file;
        Dwfl_Module *mod = dwfl_report_elf(dwfl_, path.c_str(), named.c_str(), fd, bias, true);
        if (!mod) {
            close(fd);
            return false;
        }
        return true;
    }

    // An executable mapping of a file not seen in this process yet: the
    // file (opened once for all processes) and this process's bias for it.
    void map_file(const MapLine &m, const std::string &path, bool gone, SymbolStats &st) {
        for (const auto &x : mapped_)
            if (x.start == m.start && x.end == m.end) return;
        if (failed_.count(path)) return;
        FileSyms *f = files_.get(
            tgid_, m, path, gone, [this] { return same_mount_ns(); }, st);
        std::optional<uint64_t> bias;
        if (f) bias = bias_of(*f, m);
        if (!f || !bias) {
            failed_.insert(path);
            st.module_failed++;
            return;
        }
        mapped_.push_back(Mapped{m.start, m.end, *bias, f});
    }

    // Where vaddr 0 of the file is in this process, from any of its mappings
    // of the file that falls in a PT_LOAD segment.
    std::optional<uint64_t> bias_of(const FileSyms &f, const MapLine &exec_map) const {
        if (f.is_exec) return 0;
        for (const auto &m : maps_) {
            if (m.dev != exec_map.dev || m.inode != exec_map.inode) continue;
            for (const auto &ph : f.loads) {
                uint64_t seg_off = ph.p_offset & ~uint64_t{0xfff};
                if (m.offset < seg_off || m.offset >= ph.p_offset + ph.p_filesz) continue;
                return m.start - (ph.p_vaddr + m.offset - ph.p_offset);
            }
        }
        return std::nullopt;
    }

    std::string lookup(uint64_t addr) {
        for (const auto &x : mapped_) {
            if (addr < x.start || addr >= x.end) continue;
            FileSyms &f = *x.file;
            const uint64_t off = addr - x.bias - f.low;
            if (const SymTable::Sym *sym = files_.table(f).find(off)) return demangle(sym->name);
            return "[" + base_name(f.name) + "+" + hex(off) + "]";
        }
        if (!perf_map_reread_ && file_readable(perf_map_path_)) {
            perf_map_reread_ = true;  // JIT maps grow while the process runs
            perf_map_ = parse_perf_map(read_file(perf_map_path_));
        }
        auto it = std::upper_bound(perf_map_.begin(), perf_map_.end(), addr,
                                   [](uint64_t a, const PerfMapEntry &e) { return a < e.start; });
        if (it != perf_map_.begin()) {
            --it;
            if (addr < it->start + it->size) return demangle(it->name);
        }
        for (const auto &m : maps_) {
            if (addr >= m.start && addr < m.end && !m.path.empty()) {
                if (m.path[0] == '[') return m.path;  // [vdso], [stack]...
                return "[" + base_name(m.path) + "+" + hex(addr - m.start + m.offset) + "]";
            }
        }
        return "[unknown]";
    }

    // libdwfl's thread state over the copied stack of the current sample.
    static pid_t next_thread(Dwfl *, void *arg, void **thread_argp) {
        auto *self = static_cast<ProcessSymbols *>(arg);
        if (*thread_argp) return 0;
        *thread_argp = self;
        return static_cast<pid_t>(self->cur_tid_);
    }
    static bool get_thread(Dwfl *, pid_t, void *arg, void **thread_argp) {
        *thread_argp = arg;
        return true;
    }
    static bool memory_read(Dwfl *, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
        auto *self = static_cast<ProcessSymbols *>(arg);
        const StackCopy *c = self->cur_;
        // In the copy, without overflow: CFI may ask for any address.
        if (!c || addr < c->sp || addr - c->sp > c->len ||
            c->len - (addr - c->sp) < sizeof(Dwarf_Word))
            return false;
        memcpy(result, c->data + (addr - c->sp), sizeof(Dwarf_Word));
        return true;
    }
    static bool set_initial_registers(Dwfl_Thread *thread, void *arg) {
        auto *self = static_cast<ProcessSymbols *>(arg);
        const StackCopy *c = self->cur_;
        if (!c) return false;
        // x86-64 DWARF register numbers: 6 rbp, 7 rsp; 16 is the return address column.
        Dwarf_Word regs[2] = {c->bp, c->sp};
        if (!dwfl_thread_state_registers(thread, 6, 2, regs)) return false;
        dwfl_thread_state_register_pc(thread, c->ip);
        return true;
    }
    static int frame_cb(Dwfl_Frame *state, void *arg) {
        auto *self = static_cast<ProcessSymbols *>(arg);
        Dwarf_Addr pc;
        bool activation = false;
        if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
        if (pc == 0) return DWARF_CB_ABORT;
        self->out_->push_back(UserFrame{pc, !activation});
        return self->out_->size() >= 127 ? DWARF_CB_ABORT : DWARF_CB_OK;
    }

    struct Mapped {
        uint64_t start, end, bias;
        FileSyms *file;
    };
    uint32_t tgid_;
    int same_ns_ = -1;  // same mount namespace as ours: -1 not known yet, 0, 1
    FileCache &files_;
    bool unwinding_;
    double first_seen_ms_ = 0;
    Dwfl *dwfl_ = nullptr;  // DWARF mode only
    std::string maps_text_;
    std::vector<MapLine> maps_;
    std::vector<Mapped> mapped_;
    std::set<std::string> failed_;      // files that could not be opened
    std::map<std::string, bool> done_;  // DWARF mode: reported (true) or failed (false)
    std::string perf_map_path_;
    std::vector<PerfMapEntry> perf_map_;
    bool perf_map_reread_ = false;
    std::unordered_map<uint64_t, std::string> cache_;
    bool attached_ = false;
    const StackCopy *cur_ = nullptr;
    uint32_t cur_tid_ = 0;
    std::vector<UserFrame> *out_ = nullptr;
};

Symbolizer::Symbolizer() : files_(std::make_unique<FileCache>()) {
    elf_version(EV_CURRENT);
}
Symbolizer::~Symbolizer() = default;

ProcessSymbols *Symbolizer::get(uint32_t tgid) {
    auto it = procs_.find(tgid);
    return it == procs_.end() ? nullptr : it->second.get();
}

bool Symbolizer::capture(uint32_t tgid, double now_ms) {
    if (auto it = procs_.find(tgid); it != procs_.end()) return it->second != nullptr;
    auto p = std::make_unique<ProcessSymbols>(tgid, *files_, unwinding_);
    if (!p->capture(stats_, now_ms)) {
        stats_.capture_failed++;
        procs_.emplace(tgid, nullptr);  // gone: not tried again
        return false;
    }
    stats_.processes++;
    procs_.emplace(tgid, std::move(p));
    return true;
}

void Symbolizer::refresh(double now_ms, double window_ms) {
    for (auto &[tgid, p] : procs_)
        if (p && now_ms - p->first_seen_ms() <= window_ms) p->refresh(stats_);
}

void Symbolizer::refresh_one(uint32_t tgid) {
    auto it = procs_.find(tgid);
    if (it == procs_.end() || !it->second)
        capture(tgid);
    else
        it->second->refresh(stats_);
}

std::string Symbolizer::user(uint32_t tgid, uint64_t addr, bool call_site) {
    if (!capture(tgid)) return "[unknown]";
    ProcessSymbols *p = get(tgid);
    return p->user(addr, call_site);
}

std::string Symbolizer::kernel(uint64_t addr) const {
    std::string n = kernel_.name(addr);
    return n.empty() ? "[unknown]" : n;
}

std::vector<UserFrame> Symbolizer::unwind(uint32_t tgid, uint32_t tid, const StackCopy &copy) {
    if (!capture(tgid)) return {UserFrame{copy.ip, false}};
    ProcessSymbols *p = get(tgid);
    auto f = p->unwind(tid, copy);
    if (f.size() <= 1) stats_.unwind_failed++;
    return f;
}

}  // namespace bpfkit::stackprof
