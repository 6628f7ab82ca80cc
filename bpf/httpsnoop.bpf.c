// SPDX-License-Identifier: GPL-2.0-only
/*
 * httpsnoop: the bytes processes write to and read from TCP sockets that
 * carry HTTP, and the plaintext of TLS libraries, for user space to parse.
 *
 * Plaintext: the arguments of read, write, readv, writev, sendto, recvfrom,
 * sendmsg and recvmsg are kept per thread at syscall entry, and the buffer
 * is read at exit, never at entry (only then does it hold what was read).
 * Five rungs share this code, best first:
 *   fentry:       fentry/fexit on the syscalls' wrappers (__x64_sys_<name>):
 *                 trampolines on the followed syscalls only
 *   kprobe:       ksyscall/kretsyscall kprobes on the same wrappers
 *   socket:       the sock:sock_send_length/sock_recv_length tracepoints
 *                 (tp_btf, Linux 6.3) at the end of each sendmsg/recvmsg,
 *                 the call's arguments from the caller's saved registers
 *                 (one program run per call on a socket, nothing at entry)
 *   raw_syscalls: the sys_enter/sys_exit raw tracepoints (tp_btf), filtered
 *                 by syscall number
 *                 (no tracefs; runs for every syscall on the host)
 *   tracepoint:   tp/syscalls/sys_{enter,exit}_<name> (needs tracefs)
 * The fd's socket is found through task->files at exit: a TCP socket's
 * struct sock address names the connection together with (tgid, fd), and
 * the kernel-side state of that sock is removed when it reaches TCP_CLOSE,
 * so a reused fd (a new sock) starts afresh.
 *
 * A connection is classified from the first bytes of its first data calls:
 * an HTTP method, "HTTP/" or the HTTP/2 preface makes it HTTP (everything
 * it moves is copied from then on); HTTPSNOOP_CLASSIFY_TRIES calls that
 * look like neither give it up.
 *
 * TLS: uprobes on SSL_read/SSL_write(_ex) and gnutls_record_recv/send note
 * the buffer per thread; the read/write syscall the same thread makes
 * inside the call ties the SSL object to its fd (kept per SSL object for
 * calls served from OpenSSL's buffer), and the return probe copies the
 * plaintext. The ciphertext of those syscalls is not copied.
 */
#include "bpfkit_events.bpf.h"
#include "httpsnoop.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT_	     00170000
#define S_IFSOCK_    0140000
#define SOCK_STREAM_ 1
#define TCP_CLOSE_   7

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 max_capture = 512;
/* The size of each CPU's ring buffer (cpu_events), 0 when there are none. */
const volatile __u32 cpu_ring_bytes = 0;

/* Syscall numbers (raw_syscalls filters by them; every rung passes them). */
#if defined(__TARGET_ARCH_x86)
#define NR_read	    0
#define NR_write    1
#define NR_close    3
#define NR_readv    19
#define NR_writev   20
#define NR_sendto   44
#define NR_recvfrom 45
#define NR_sendmsg  46
#define NR_recvmsg  47
#elif defined(__TARGET_ARCH_arm64)
#define NR_close    57
#define NR_read	    63
#define NR_write    64
#define NR_readv    65
#define NR_writev   66
#define NR_sendto   206
#define NR_recvfrom 207
#define NR_sendmsg  211
#define NR_recvmsg  212
#else
#error "syscall numbers for this architecture are missing"
#endif

/* Events go to the ring buffer of the CPU they happen on (cpu_events, whose
 * slots user space fills after load), so that CPUs do not contend for one
 * ring's lock and positions; user space merges the rings in time order. An
 * empty slot (no per-CPU rings on this kernel, or before user space filled
 * them) sends to the shared ring, events. User space sizes both. */
BPFKIT_EVENTS_MAP(events, 16 << 20);

/* The template of the per-CPU rings (their size is not part of it). */
struct cpu_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct cpu_ring);
} cpu_events SEC(".maps");

enum buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_MSG = 2 };

/* A syscall in progress on one thread. */
struct call {
	__u64 ts;
	__u64 sk;  /* the fd's TCP socket, found at entry */
	__u64 buf; /* the buffer, the iovec array, or the msghdr */
	__u32 nr;
	__s32 fd;
	__u32 niov;
	__u8 kind; /* enum buf_kind */
	__u8 dir;
	__u8 live;  /* a call is in progress (the entry stays between calls) */
	__u8 state; /* the connection's enum httpsnoop_conn_state at entry */
	__u8 sent;  /* and whether its addresses and comm were sent */
	__u8 pad[3];
};

/* pid_tgid -> the thread's call. A thread's entry is made at its first
 * followed call and kept (live 0 between calls: a lookup and stores in
 * place cost less than an insert and a delete per call); it goes when the
 * thread exits (httpsnoop_task_exit). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

/* TLS library calls in progress (entered, not returned), over all threads:
 * while 0, no syscall looks in tls_calls. A call whose return is never
 * seen leaves it above 0, which costs a lookup per followed call. */
__s64 tls_inflight = 0;

/* A TLS library call in progress on one thread. */
struct tls_call {
	__u64 ts;
	__u64 ssl;
	__u64 buf;
	__u64 outlen; /* size_t * of the _ex calls, 0 otherwise */
	__u64 sk;     /* learned from the syscall made inside */
	__s32 fd;
	__u8 dir;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct ssl_fd {
	__u64 sk;
	__s32 fd;
	__u32 pad;
};

/* SSL object -> its socket, for calls served from the library's buffer.
 * A cache: an entry lost is learned again at the next syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, struct ssl_fd);
} ssl_fds SEC(".maps");

struct conn {
	__u8 state; /* enum httpsnoop_conn_state */
	__u8 tries;
	__u8 plen; /* first bytes collected from calls shorter than four */
	__u8 prefix[3];
	__u8 sent; /* an event with the addresses and comm went out (HTTP) */
	__u8 pad;
};

/* sk (sk|1 for the TLS plaintext on it) -> classification. Entries go when
 * the socket reaches TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

BPFKIT_STATS_MAP(HTTPSNOOP_STAT_MAX)

/* The socket rung's shortcut, kept on the socket itself: a connection known
 * to be HTTP, whose first event went out, used through this fd of this
 * process (checked once). A call that matches it needs neither the lookup in
 * conns nor the walk of the fd table. It goes at the socket's TCP_CLOSE, as
 * the conns entry does (httpsnoop_sk_closed: a socket connected again is
 * classified again), and with the socket. */
struct sk_known {
	__u32 tgid;
	__s32 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_known);
} sk_known SEC(".maps");

struct scratch {
	struct httpsnoop_event ev;
	__u8 data[2 * HTTPSNOOP_CAP_MAX];
};

BPFKIT_SCRATCH_MAP(struct scratch);

/* Linux 6.2 and later: marks a kernel pointer as of a BTF type, so that its
 * fields are read with plain loads (each faulting to 0 like a probe read)
 * instead of a helper call each. The programs that call it are loaded only
 * where the kernel has it (their names end in _cast; user space picks them). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The current task's open file at fd (its address, as a number the
 * verifier does not track), or 0. */
static __always_inline struct file *fd_file(__s32 fd)
{
	struct file **fdarr;
	struct file *file = 0;
	unsigned int max_fds;

	if (fd < 0)
		return 0;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		/* Linux 5.11 and later: plain loads through the BTF-typed
		 * task, not one helper call per pointer. */
		struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;

		max_fds = fdt->max_fds;
		fdarr = fdt->fd;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
		fdarr = BPF_CORE_READ(task, files, fdt, fd);
	}
	if ((unsigned int)fd >= max_fds)
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdarr[fd]))
		return 0;
	return file;
}

/* The TCP (stream, inet) socket behind fd of the current task, or 0. With
 * cast, the fields past the fd table's slot are read through
 * bpf_rdonly_cast (two helper calls in all, not seven). */
static __always_inline __u64 tcp_sock_of_fd(__s32 fd, bool cast)
{
	struct file *file = fd_file(fd);
	struct socket *sock;
	struct sock *sk;
	umode_t mode;
	short type;
	__u16 family;

	if (!file)
		return 0;
	if (cast) {
		struct file *f = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
		struct socket *so;

		if ((f->f_inode->i_mode & S_IFMT_) != S_IFSOCK_)
			return 0;
		so = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
		if (so->type != SOCK_STREAM_)
			return 0;
		/* The sock's address is the connection's key: read as a
		 * number (a pointer the verifier tracks allows no arithmetic). */
		if (bpf_probe_read_kernel(&sk, sizeof(sk), &so->sk) || !sk)
			return 0;
		family = ((struct sock *)bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock)))
			     ->__sk_common.skc_family;
		if (family != BPFKIT_AF_INET && family != BPFKIT_AF_INET6)
			return 0;
		return (__u64)sk;
	}
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	type = BPF_CORE_READ(sock, type);
	if (type != SOCK_STREAM_)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != BPFKIT_AF_INET && family != BPFKIT_AF_INET6)
		return 0;
	return (__u64)sk;
}

/* Whether the first bytes start an HTTP/1.x message or the HTTP/2 preface. */
static __always_inline bool looks_http(const char *b)
{
	switch (b[0]) {
	case 'G':
		return b[1] == 'E' && b[2] == 'T' && b[3] == ' ';
	case 'P':
		return (b[1] == 'O' && b[2] == 'S' && b[3] == 'T') ||
		       (b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
		       (b[1] == 'A' && b[2] == 'T' && b[3] == 'C') ||
		       (b[1] == 'R' && b[2] == 'I' && b[3] == ' ');
	case 'H':
		return (b[1] == 'E' && b[2] == 'A' && b[3] == 'D') ||
		       (b[1] == 'T' && b[2] == 'T' && b[3] == 'P');
	case 'D':
		return b[1] == 'E' && b[2] == 'L' && b[3] == 'E';
	case 'O':
		return b[1] == 'P' && b[2] == 'T' && b[3] == 'I';
	case 'C':
		return b[1] == 'O' && b[2] == 'N' && b[3] == 'N';
	case 'T':
		return b[1] == 'R' && b[2] == 'A' && b[3] == 'C';
	default:
		return false;
	}
}

/* Whether n (1-3) bytes could begin what looks_http() accepts. */
static __always_inline bool could_be_http(const char *b, __u32 n)
{
	static const char pats[11][4] = {"GET ", "POST", "PUT ", "PATC", "PRI ", "HEAD",
					 "HTTP", "DELE", "OPTI", "CONN", "TRAC"};

	for (int i = 0; i < 11; i++) {
		bool ok = true;

		for (__u32 j = 0; j < 3; j++)
			if (j < n && pats[i][j] != b[j])
				ok = false;
		if (ok)
			return true;
	}
	return false;
}

static __always_inline void set_conn(__u64 key, struct conn *n)
{
	struct sock *sk = (struct sock *)(key & ~1ULL);

	if (bpf_map_update_elem(&conns, &key, n, BPF_ANY)) {
		stat_add(HTTPSNOOP_STAT_CONNS_FULL, 1);
		return;
	}
	/* A socket that has had its TCP_CLOSE (a reset came before its last
	 * bytes were read) gets no other end to remove the entry: remove it
	 * now, or the next socket at the same address would inherit it. Read
	 * after the update, so a close in between is seen by one side. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE_)
		bpf_map_delete_elem(&conns, &key);
}

/* Decides whether a call's bytes are copied: the connection is HTTP, or
 * these first bytes (avail of them at first) make it so. A request that
 * comes a byte or two at a time (a slow client) is collected in the
 * connection's prefix until four bytes tell, its pieces copied meanwhile. */
static __always_inline bool want(__u64 key, __u64 first, __u64 avail)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	struct conn n = {};
	char b[4] = {};
	__u32 have = 0, take;

	if (c) {
		if (c->state == HTTPSNOOP_CONN_HTTP)
			return true;
		if (c->state == HTTPSNOOP_CONN_OTHER)
			return false;
		n = *c;
		have = n.plen & 3;
		for (__u32 i = 0; i < 3; i++)
			if (i < have)
				b[i] = n.prefix[i];
	}
	if (!first || !avail)
		return false;
	take = 4 - have;
	if (take > avail)
		take = avail;
	if (have == 0 && take == 4) {
		if (bpf_probe_read_user(b, 4, (void *)first))
			return false;
	} else {
		/* Byte by byte into a word (an index into b would be pointer
		 * arithmetic the verifier refuses). */
		__u32 w = (__u8)b[0] | ((__u8)b[1] << 8) | ((__u8)b[2] << 16);

		for (__u32 i = 0; i < 4; i++) {
			__u8 ch;

			if (i >= take)
				break;
			if (bpf_probe_read_user(&ch, 1, (void *)(first + i)))
				return false;
			w |= (__u32)ch << (((have + i) & 3) * 8);
		}
		b[0] = w & 0xff;
		b[1] = (w >> 8) & 0xff;
		b[2] = (w >> 16) & 0xff;
		b[3] = (w >> 24) & 0xff;
	}
	have += take;
	if (have >= 4) {
		n.plen = 0;
		if (looks_http(b)) {
			n.state = HTTPSNOOP_CONN_HTTP;
			set_conn(key, &n);
			return true;
		}
	} else if (could_be_http(b, have)) {
		n.plen = have;
		for (__u32 i = 0; i < 3; i++)
			n.prefix[i] = b[i];
		set_conn(key, &n);
		return true;
	} else {
		n.plen = 0;
	}
	if (++n.tries >= HTTPSNOOP_CLASSIFY_TRIES) {
		n.state = HTTPSNOOP_CONN_OTHER;
		stat_add(HTTPSNOOP_STAT_NOT_HTTP, 1);
	}
	set_conn(key, &n);
	return false;
}

static __always_inline void fill_addrs(struct httpsnoop_event *ev, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	ev->family = (__u8)family;
	ev->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == BPFKIT_AF_INET) {
		bpf_core_read(ev->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(ev->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(ev->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(ev->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* An event's fixed part; the process's comm and cgroup only with whole (the
 * first event of a connection: user space keeps them per connection). */
static __always_inline struct scratch *event_head(__u8 kind, __u8 dir, __s32 fd, __u64 sk, __u64 ts,
						  bool whole)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	__u64 id = bpf_get_current_pid_tgid();

	if (!s)
		return 0;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.ts_ns = ts;
	s->ev.sk = sk;
	s->ev.tgid = id >> 32;
	s->ev.tid = (__u32)id;
	s->ev.fd = fd;
	s->ev.kind = kind;
	s->ev.dir = dir;
	if (!whole)
		return s;
	s->ev.cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		/* comm is always NUL-terminated in its 16 bytes. */
		if (bpf_probe_read_kernel(s->ev.comm, sizeof(s->ev.comm),
					  bpf_get_current_task_btf()->group_leader->comm))
			bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (bpf_probe_read_kernel_str(s->ev.comm, sizeof(s->ev.comm),
					      &BPF_CORE_READ(task, group_leader)->comm) <= 0)
			bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	}
	return s;
}

static __always_inline void send(void *ctx, struct scratch *s, __u32 cap)
{
	void *ring = &events;

	if (cap > HTTPSNOOP_CAP_MAX)
		cap = HTTPSNOOP_CAP_MAX;
	s->ev.cap = cap;

	if (bpfkit_use_ringbuf && cpu_ring_bytes) {
		__u32 cpu = bpf_get_smp_processor_id();
		void *mine = bpf_map_lookup_elem(&cpu_events, &cpu);

		if (mine)
			ring = mine;
	}
	if (bpfkit_emit_lazy(ctx, ring, s, sizeof(s->ev) + cap, HTTPSNOOP_WAKE_BYTES))
		stat_add(HTTPSNOOP_STAT_RING_DROPS, 1);
	else
		stat_add(HTTPSNOOP_STAT_EVENTS, 1);
}

/* Copies up to n bytes from user memory at src to the event's data at off;
 * returns the bytes copied. */
static __always_inline __u32 copy_user(struct scratch *s, __u32 off, __u64 src, __u64 n)
{
	__u32 room, len;

	if (off >= max_capture || off >= HTTPSNOOP_CAP_MAX)
		return 0;
	room = max_capture - off;
	len = n < room ? (__u32)n : room;
	if (!len)
		return 0;
	len = ((len - 1) & (HTTPSNOOP_CAP_MAX - 1)) + 1;
	off &= HTTPSNOOP_CAP_MAX - 1;
	if (bpf_probe_read_user(&s->data[off], len, (void *)src)) {
		stat_add(HTTPSNOOP_STAT_READ_FAULTS, 1);
		return 0;
	}
	return len;
}

/* The data of a finished call of `ret` bytes: its first bytes (and with
 * whole, the connection's addresses and the comm) into the ring buffer. */
static __always_inline void emit_data(void *ctx, struct call *c, __u64 sk, __u64 ret, __u8 flags,
				      bool whole, bool pair)
{
	struct scratch *s = event_head(HTTPSNOOP_EV_DATA, c->dir, c->fd, sk, c->ts, whole);
	__u32 cap = 0;

	if (!s)
		return;
	s->ev.len = ret > 0xffffffffULL ? 0xffffffffU : (__u32)ret;
	s->ev.flags = flags;
	if (whole && !(flags & HTTPSNOOP_F_NOFD))
		fill_addrs(&s->ev, (struct sock *)sk);
	if (c->kind == BUF_PLAIN) {
		cap = copy_user(s, 0, c->buf, ret);
	} else {
		struct iovec *iov = (struct iovec *)c->buf;
		struct iovec first[2] = {};
		__u64 left = ret;
		__u32 niov = c->niov, ahead = 0;

		/* A head and a body in two buffers (nginx's writev): their
		 * iovecs in one read. */
		if (pair && niov >= 2 && !bpf_probe_read_user(first, sizeof(first), iov))
			ahead = 2;
		for (__u32 i = 0; i < HTTPSNOOP_MAX_IOV; i++) {
			struct iovec v = {};

			if (i >= niov || !left || cap >= max_capture)
				break;
			if (i < ahead)
				v = i == 0 ? first[0] : first[1];
			else if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
				break;
			if (v.iov_len > left)
				v.iov_len = left;
			__u32 got = copy_user(s, cap, (__u64)v.iov_base, v.iov_len);

			cap += got;
			left -= v.iov_len;
			if (got < v.iov_len)
				break;
		}
	}
	if (cap < s->ev.len)
		stat_add(HTTPSNOOP_STAT_TRUNCATED, 1);
	send(ctx, s, cap);
}

/* The start of a call's data and how many bytes of it are there, for
 * classification. */
static __always_inline __u64 first_bytes(struct call *c, __u64 ret, __u64 *avail)
{
	struct iovec v = {};

	*avail = ret;
	if (c->kind == BUF_PLAIN)
		return c->buf;
	if (!c->niov || bpf_probe_read_user(&v, sizeof(v), (void *)c->buf))
		return 0;
	if (v.iov_len < *avail)
		*avail = v.iov_len;
	return (__u64)v.iov_base;
}

/* ---- syscall entry and exit, shared by both rungs ---- */

/* Inside SSL_read/SSL_write (or GnuTLS) on this thread, a read or write
 * moves ciphertext: it only tells the library call its fd and socket.
 * Returns whether it was such a call. */
static __always_inline bool note_tls_socket(__u64 id, __s32 fd, __u64 sk)
{
	struct tls_call *t;

	if (tls_inflight <= 0)
		return false;
	t = bpf_map_lookup_elem(&tls_calls, &id);
	if (!t)
		return false;
	t->fd = fd;
	t->sk = sk;
	return true;
}

/* A followed call's fd, buffer and direction from its number and first three
 * arguments; false for a call that is not followed (or whose msghdr could
 * not be read). */
static __always_inline bool call_args(struct call *c, __u64 nr, __u64 a0, __u64 a1, __u64 a2)
{
	c->nr = (__u32)nr;
	c->fd = (__s32)a0;
	c->buf = a1;
	switch (nr) {
	case NR_write:
	case NR_sendto:
		c->dir = HTTPSNOOP_WRITE;
		return true;
	case NR_read:
	case NR_recvfrom:
		c->dir = HTTPSNOOP_READ;
		return true;
	case NR_writev:
		c->dir = HTTPSNOOP_WRITE;
		c->kind = BUF_IOV;
		c->niov = (__u32)a2;
		return true;
	case NR_readv:
		c->dir = HTTPSNOOP_READ;
		c->kind = BUF_IOV;
		c->niov = (__u32)a2;
		return true;
	case NR_sendmsg:
	case NR_recvmsg: {
		struct user_msghdr m = {};

		c->dir = nr == NR_sendmsg ? HTTPSNOOP_WRITE : HTTPSNOOP_READ;
		c->kind = BUF_IOV;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)a1))
			return false;
		c->buf = (__u64)m.msg_iov;
		c->niov = (__u32)m.msg_iovlen;
		return true;
	}
	default:
		return false;
	}
}

/* cast: the program may call bpf_rdonly_cast (tcp_sock_of_fd). */
static __always_inline void on_enter(__u32 nr, __u64 a0, __u64 a1, __u64 a2, bool cast)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call c = {};

	if ((id >> 32) == self_tgid)
		return;
	switch (nr) {
	case NR_close: {
		/* The fd still names its socket here: tell user space. */
		__s32 fd = (__s32)a0;
		__u64 sk = tcp_sock_of_fd(fd, cast);
		struct conn *cn;
		struct scratch *s;
		__u64 tk = sk | 1;

		if (!sk)
			return;
		cn = bpf_map_lookup_elem(&conns, &sk);
		if (!cn || cn->state != HTTPSNOOP_CONN_HTTP) {
			cn = bpf_map_lookup_elem(&conns, &tk);
			if (!cn || cn->state != HTTPSNOOP_CONN_HTTP)
				return;
		}
		s = event_head(HTTPSNOOP_EV_CLOSE, 0, fd, sk, bpf_ktime_get_ns(), true);
		if (s)
			send(0, s, 0);
		return;
	}
	default:
		if (!call_args(&c, nr, a0, a1, a2))
			return;
	}
	/* Only calls on TCP sockets that are (or may be) HTTP, or that a TLS
	 * library makes, are followed to their exit: the others cost this
	 * walk of the file table and nothing more. */
	c.sk = tcp_sock_of_fd(c.fd, cast);
	if (!c.sk)
		return;
	{
		struct conn *cn = bpf_map_lookup_elem(&conns, &c.sk);

		if (cn) {
			c.state = cn->state;
			c.sent = cn->sent;
		}
	}
	if (c.state == HTTPSNOOP_CONN_OTHER &&
	    !(tls_inflight > 0 && bpf_map_lookup_elem(&tls_calls, &id)))
		return;
	/* A write's time is its entry; a read's is taken at its exit. */
	if (c.dir == HTTPSNOOP_WRITE)
		c.ts = bpf_ktime_get_ns();
	c.live = 1;
	{
		struct call *p = bpf_map_lookup_elem(&calls, &id);

		if (p)
			*p = c;
		else if (bpf_map_update_elem(&calls, &id, &c, BPF_NOEXIST))
			stat_add(HTTPSNOOP_STAT_ARGS_FULL, 1);
	}
}

/* A finished call of ret bytes on the TCP socket sk: classified if it is not
 * yet, its first bytes sent if the connection is HTTP (pair: see
 * emit_data()). */
static __always_inline void finish_call(void *ctx, struct call *c, __u64 sk, __u64 ret, bool pair)
{
	__u64 first, avail;

	if (c->state == HTTPSNOOP_CONN_OTHER)
		return;
	if (c->dir == HTTPSNOOP_READ)
		c->ts = bpf_ktime_get_ns();
	if (c->state != HTTPSNOOP_CONN_HTTP) {
		first = first_bytes(c, ret, &avail);
		if (!want(sk, first, avail))
			return;
	}
	/* The addresses and comm go in a connection's first event only:
	 * the later ones cost no connection lookup and no reads of them. */
	if (c->state == HTTPSNOOP_CONN_HTTP && c->sent) {
		emit_data(ctx, c, sk, ret, 0, false, pair);
		return;
	}
	emit_data(ctx, c, sk, ret, 0, true, pair);
	{
		struct conn *cn = bpf_map_lookup_elem(&conns, &sk);

		if (cn && cn->state == HTTPSNOOP_CONN_HTTP)
			cn->sent = 1;
	}
}

static __always_inline void on_exit(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &id);
	__u64 sk;

	if (!c || !c->live)
		return;
	/* Only this thread writes its entry: it stays readable below. */
	c->live = 0;
	if (ret <= 0)
		return;
	sk = c->sk;
	if (note_tls_socket(id, c->fd, sk))
		return;
	finish_call(ctx, c, sk, (__u64)ret, false);
}

/* ---- rung "fentry": trampolines on the syscalls' wrappers ---- */

/* The kernel's wrapper of each syscall takes the user's registers
 * (CONFIG_ARCH_HAS_SYSCALL_WRAPPER, x86-64 since 4.17, arm64 since 4.19);
 * its name has the architecture's prefix. Compat (32-bit) calls go through
 * other wrappers (__ia32_sys_*) and are not seen by this rung or the next. */
#if defined(__TARGET_ARCH_x86)
#define SYS_WRAPPER(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define SYS_WRAPPER(name) "__arm64_sys_" #name
#endif

/* The exits: the return value only, which every kernel's BTF types. */
#define FEXIT(name)                                                                                \
	SEC("fexit/" SYS_WRAPPER(name))                                                            \
	int BPF_PROG(httpsnoop_fe_exit_##name, const struct pt_regs *regs, long ret)               \
	{                                                                                          \
		on_exit(ctx, ret);                                                                 \
		return 0;                                                                          \
	}

HTTPSNOOP_FOLLOWED_SYSCALLS(FEXIT)

/* The entries of the file syscalls: the arguments from the registers. */
#define FENTRY_REGS(name)                                                                          \
	SEC("fentry/" SYS_WRAPPER(name))                                                           \
	int BPF_PROG(httpsnoop_fe_enter_##name, const struct pt_regs *regs)                        \
	{                                                                                          \
		on_enter(NR_##name, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),      \
			 PT_REGS_PARM3_SYSCALL(regs), false);                                      \
		return 0;                                                                          \
	}

FENTRY_REGS(read)
FENTRY_REGS(write)
FENTRY_REGS(readv)
FENTRY_REGS(writev)

SEC("fentry/" SYS_WRAPPER(close))
int BPF_PROG(httpsnoop_fe_enter_close, const struct pt_regs *regs)
{
	on_enter(NR_close, PT_REGS_PARM1_SYSCALL(regs), 0, 0, false);
	return 0;
}

/* The entries of the socket syscalls go on the functions their wrappers
 * call, __sys_<name>(fd, buf or msg, len or flags, ...), whose first three
 * arguments are the syscall's: some kernels' BTF (Debian's 5.10) gives
 * __x64_sys_sendto and the other socket wrappers the prototype of their weak
 * stub in kernel/sys_ni.c, where struct pt_regs is only declared, and the
 * verifier of those kernels refuses to read a pointer to an incomplete
 * struct. The exits stay on the wrappers: only the return value is read. */
#define FENTRY_SYS(name)                                                                           \
	SEC("fentry/__sys_" #name)                                                                 \
	int BPF_PROG(httpsnoop_fe_enter_##name, unsigned long a0, unsigned long a1,                \
		     unsigned long a2)                                                             \
	{                                                                                          \
		on_enter(NR_##name, a0, a1, a2, false);                                            \
		return 0;                                                                          \
	}

FENTRY_SYS(sendto)
FENTRY_SYS(recvfrom)

/* A compat sendmsg/recvmsg calls __sys_sendmsg/__sys_recvmsg too, with a
 * 32-bit msghdr and this flag; its exit is not followed (other wrapper). */
#define MSG_CMSG_COMPAT_ 0x80000000U

#define FENTRY_MSG(name)                                                                           \
	SEC("fentry/__sys_" #name)                                                                 \
	int BPF_PROG(httpsnoop_fe_enter_##name, unsigned long fd, unsigned long msg,               \
		     unsigned int flags)                                                           \
	{                                                                                          \
		if (flags & MSG_CMSG_COMPAT_)                                                      \
			return 0;                                                                  \
		on_enter(NR_##name, fd, msg, 0, false);                                            \
		return 0;                                                                          \
	}

FENTRY_MSG(sendmsg)
FENTRY_MSG(recvmsg)

/* ---- rung "kprobe": kprobes on the same wrappers (libbpf names them) ---- */

#define KSYSCALL_PAIR(name)                                                                        \
	SEC("ksyscall/" #name)                                                                     \
	int BPF_KSYSCALL(httpsnoop_ks_enter_##name, unsigned long a0, unsigned long a1,            \
			 unsigned long a2)                                                         \
	{                                                                                          \
		on_enter(NR_##name, a0, a1, a2, false);                                            \
		return 0;                                                                          \
	}                                                                                          \
	SEC("kretsyscall/" #name)                                                                  \
	int BPF_KRETPROBE(httpsnoop_ks_exit_##name, long ret)                                      \
	{                                                                                          \
		on_exit(ctx, ret);                                                                 \
		return 0;                                                                          \
	}

HTTPSNOOP_FOLLOWED_SYSCALLS(KSYSCALL_PAIR)

SEC("ksyscall/close")
int BPF_KSYSCALL(httpsnoop_ks_enter_close, unsigned long a0)
{
	on_enter(NR_close, a0, 0, 0, false);
	return 0;
}

/* ---- rung "raw_syscalls": the sys_enter/sys_exit raw tracepoints ---- */

/* Attached BTF-typed (tp_btf, Linux 5.5): the registers are read with plain
 * loads, not a helper call each, and the exit looks at the syscall number
 * before anything else, so the exits of syscalls not followed (most of a
 * host's) cost a load and a compare, not a lookup in calls. */

/* One "case NR_<name>:" per followed syscall (the list of httpsnoop.h). */
#define FOLLOWED_CASE(name) case NR_##name:

/* Two flavours of the entry: _cast where the kernel has bpf_rdonly_cast. */
#define RAW_ENTER(suffix, cast)                                                                    \
	SEC("tp_btf/sys_enter")                                                                    \
	int BPF_PROG(httpsnoop_raw_enter##suffix, struct pt_regs *regs, long nr)                   \
	{                                                                                          \
		switch (nr) {                                                                      \
			HTTPSNOOP_FOLLOWED_SYSCALLS(FOLLOWED_CASE)                                 \
		case NR_close:                                                                     \
			break;                                                                     \
		default:                                                                           \
			return 0;                                                                  \
		}                                                                                  \
		on_enter((__u32)nr, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs),      \
			 PT_REGS_PARM3_SYSCALL(regs), cast);                                       \
		return 0;                                                                          \
	}

RAW_ENTER(, false)
RAW_ENTER(_cast, true)

SEC("tp_btf/sys_exit")
int BPF_PROG(httpsnoop_raw_exit, struct pt_regs *regs, long ret)
{
	switch (BPFKIT_SYSCALL_NR(regs)) {
		HTTPSNOOP_FOLLOWED_SYSCALLS(FOLLOWED_CASE)
		break;
	default:
		return 0;
	}
	on_exit(ctx, ret);
	return 0;
}

/* ---- rung "socket": the sock:sock_send_length/sock_recv_length tracepoints ---- */

/* Linux 6.3 and later call these at the end of every sendmsg and recvmsg on
 * a socket, in the caller's context, with the socket and the bytes moved:
 * one program run per call on a socket, none for any other system call, and
 * no syscall tracepoint (whose mere presence sends every system call on the
 * host through the kernel's slow path). The call's own arguments (its fd and
 * buffer) are the user registers saved at its entry; the buffer is read
 * after the kernel filled or sent it. A call that is not one of the followed
 * syscalls (sendfile, splice, io_uring, sendmmsg, a socket used inside the
 * kernel) is not followed, as in the other rungs; the fd is checked to be
 * this socket's. */
#define MSG_PEEK_     0x2
#define MSG_TRUNC_    0x20
#define MSG_ERRQUEUE_ 0x2000
#define IPPROTO_TCP_  6

static __always_inline void on_sock(void *ctx, struct sock *sk, int ret, int flags, __u8 dir)
{
	struct task_struct *task;
	struct pt_regs *regs;
	struct file *file;
	struct call c = {};
	struct sk_known *known;
	struct scratch *sc;
	struct conn *cn;
	__u64 id, key;
	__u32 zero = 0;

	if (ret <= 0)
		return;
	/* A peek is read again; an error queue's bytes are not the stream's;
	 * MSG_TRUNC returns bytes that were not copied. */
	if (dir == HTTPSNOOP_READ && (flags & (MSG_PEEK_ | MSG_TRUNC_ | MSG_ERRQUEUE_)))
		return;
	if (sk->sk_protocol != IPPROTO_TCP_ || sk->sk_type != SOCK_STREAM_)
		return;
	id = bpf_get_current_pid_tgid();
	if ((id >> 32) == self_tgid)
		return;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!call_args(&c, BPFKIT_SYSCALL_NR(regs), PT_REGS_PARM1_SYSCALL(regs),
		       PT_REGS_PARM2_SYSCALL(regs), PT_REGS_PARM3_SYSCALL(regs)))
		return;
	if (c.dir != dir)
		return;
	/* The sock's address names the connection: as a number, stored and
	 * read back through memory, where the verifier tracks no pointer (one
	 * it tracks allows no arithmetic, and the TLS key is sk|1). */
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return;
	sc->ev.sk = (__u64)sk;
	key = *(volatile __u64 *)&sc->ev.sk;
	c.sk = key;
	known = bpf_sk_storage_get(&sk_known, sk, 0, 0);
	if (known && known->tgid == (__u32)(id >> 32) && known->fd == c.fd) {
		/* (until the socket's TCP_CLOSE, HTTP and sent never change) */
		c.state = HTTPSNOOP_CONN_HTTP;
		c.sent = 1;
	} else {
		file = fd_file(c.fd);
		if (!file || (__u64)file != (__u64)sk->sk_socket->file)
			return;
		cn = bpf_map_lookup_elem(&conns, &key);
		if (cn) {
			c.state = cn->state;
			c.sent = cn->sent;
		}
		if (c.state == HTTPSNOOP_CONN_HTTP && c.sent) {
			known = bpf_sk_storage_get(&sk_known, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (known) {
				known->tgid = id >> 32;
				known->fd = c.fd;
			}
		}
	}
	if (note_tls_socket(id, c.fd, key))
		return;
	/* Both directions are timed here, at the call's end (a write's time
	 * in the syscall rungs is its entry). */
	c.ts = bpf_ktime_get_ns();
	finish_call(ctx, &c, key, (__u64)ret, true);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(httpsnoop_sk_send, struct sock *sk, int ret, int flags)
{
	on_sock(ctx, sk, ret, flags, HTTPSNOOP_WRITE);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(httpsnoop_sk_recv, struct sock *sk, int ret, int flags)
{
	on_sock(ctx, sk, ret, flags, HTTPSNOOP_READ);
	return 0;
}

/* The socket rung's shortcut ends where the connection does. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(httpsnoop_sk_closed, struct sock *sk, int oldstate, int newstate)
{
	if (newstate == TCP_CLOSE_)
		bpf_sk_storage_delete(&sk_known, sk);
	return 0;
}

/* ---- rung "tracepoint": the syscalls:* tracepoints (tracefs) ---- */

/* The entry of one syscall, in one of two flavours (_cast where the kernel
 * has bpf_rdonly_cast); nargs: the arguments passed on (close's record holds
 * one). */
#define TP_ENTER(name, suffix, cast, nargs)                                                        \
	SEC("tp/syscalls/sys_enter_" #name)                                                        \
	int httpsnoop_tp_enter_##name##suffix(struct trace_event_raw_sys_enter *ctx)               \
	{                                                                                          \
		on_enter(NR_##name, ctx->args[0], (nargs) > 1 ? ctx->args[1] : 0,                  \
			 (nargs) > 2 ? ctx->args[2] : 0, cast);                                    \
		return 0;                                                                          \
	}

#define TP_PAIR(name)                                                                              \
	TP_ENTER(name, , false, 3)                                                                 \
	TP_ENTER(name, _cast, true, 3)                                                             \
	SEC("tp/syscalls/sys_exit_" #name)                                                         \
	int httpsnoop_tp_exit_##name(struct trace_event_raw_sys_exit *ctx)                         \
	{                                                                                          \
		on_exit(ctx, ctx->ret);                                                            \
		return 0;                                                                          \
	}

HTTPSNOOP_FOLLOWED_SYSCALLS(TP_PAIR)
TP_ENTER(close, , false, 1)
TP_ENTER(close, _cast, true, 1)

/* ---- every rung: a thread's end drops its call entry ---- */

SEC("raw_tp/sched_process_exit")
int BPF_PROG(httpsnoop_task_exit)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&calls, &id);
	return 0;
}

/* ---- every rung: the socket's end clears its classification ---- */

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(httpsnoop_sock_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk, tk = key | 1;
	struct conn *c, *ct;
	struct scratch *s;
	__u8 seen = 0, http = 0;

	if (newstate != TCP_CLOSE_)
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	if (c) {
		seen = 1;
		http = c->state == HTTPSNOOP_CONN_HTTP;
	}
	ct = bpf_map_lookup_elem(&conns, &tk);
	if (ct) {
		seen = 1;
		http |= ct->state == HTTPSNOOP_CONN_HTTP;
	}
	if (!seen)
		return 0;
	bpf_map_delete_elem(&conns, &key);
	bpf_map_delete_elem(&conns, &tk);
	if (!http)
		return 0;
	/* Not in the owner's context: sk alone names what ended. */
	s = event_head(HTTPSNOOP_EV_CLOSE, 0, -1, key, bpf_ktime_get_ns(), false);
	if (!s)
		return 0;
	s->ev.tgid = 0;
	s->ev.tid = 0;
	s->ev.flags = HTTPSNOOP_F_SKGONE;
	__builtin_memset(s->ev.comm, 0, sizeof(s->ev.comm));
	send(ctx, s, 0);
	return 0;
}

/* ---- TLS: OpenSSL and GnuTLS ---- */

static __always_inline void tls_enter(__u64 ssl, __u64 buf, __u64 outlen, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call t = {};

	if ((id >> 32) == self_tgid)
		return;
	t.ts = bpf_ktime_get_ns();
	t.ssl = ssl;
	t.buf = buf;
	t.outlen = outlen;
	t.fd = -1;
	t.dir = dir;
	/* SSL_read may call SSL_read_ex inside: the outer call keeps the note. */
	if (!bpf_map_update_elem(&tls_calls, &id, &t, BPF_NOEXIST))
		__sync_fetch_and_add(&tls_inflight, 1);
}

/* ex: 0 for the calls that return the byte count, 1 for the _ex ones
 * (return 1 and the count in *outlen). */
static __always_inline void tls_exit(void *ctx, long ret, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *t = bpf_map_lookup_elem(&tls_calls, &id);
	struct ssl_key k = {};
	struct ssl_fd *known;
	struct call c = {};
	__u64 n = 0, sk, key;
	__u8 flags = HTTPSNOOP_F_TLS;

	if (!t)
		return;
	/* Only the call that made the note (not one nested in it) ends it. */
	if ((t->outlen != 0) != (ex != 0))
		return;
	stat_add(HTTPSNOOP_STAT_TLS_CALLS, 1);
	if (ex) {
		size_t got = 0;

		if (ret == 1 && !bpf_probe_read_user(&got, sizeof(got), (void *)t->outlen))
			n = got;
	} else if (ret > 0) {
		n = (__u64)ret;
	}
	k.ssl = t->ssl;
	k.tgid = id >> 32;
	if (t->sk) {
		struct ssl_fd v = {.sk = t->sk, .fd = t->fd};

		bpf_map_update_elem(&ssl_fds, &k, &v, BPF_ANY);
	} else {
		known = bpf_map_lookup_elem(&ssl_fds, &k);
		if (known) {
			t->sk = known->sk;
			t->fd = known->fd;
		}
	}
	if (!n)
		goto out;
	c.ts = t->dir == HTTPSNOOP_READ ? bpf_ktime_get_ns() : t->ts;
	c.buf = t->buf;
	c.fd = t->fd;
	c.dir = t->dir;
	sk = t->sk;
	if (!sk) {
		/* The socket is not known yet: the SSL object stands in. */
		stat_add(HTTPSNOOP_STAT_TLS_NOFD, 1);
		sk = t->ssl;
		flags |= HTTPSNOOP_F_NOFD;
	}
	key = sk | 1;
	if (want(key, t->buf, n)) {
		emit_data(ctx, &c, sk, n, flags, true, false);
	}
out:
	if (!bpf_map_delete_elem(&tls_calls, &id))
		__sync_fetch_and_add(&tls_inflight, -1);
}

/* An entry probe: the buffer, and the count's address of the _ex calls. */
#define TLS_ENTRY(name, dir, ex)                                                                   \
	SEC("uprobe")                                                                              \
	int BPF_KPROBE(name, void *obj, void *buf, size_t num, size_t *got)                        \
	{                                                                                          \
		tls_enter((__u64)obj, (__u64)buf, (ex) ? (__u64)got : 0, dir);                     \
		return 0;                                                                          \
	}

/* A return probe; type is the function's return type (an int's upper half
 * in the register is not defined). */
#define TLS_RETURN(name, type, ex)                                                                 \
	SEC("uretprobe")                                                                           \
	int BPF_KRETPROBE(name, type ret)                                                          \
	{                                                                                          \
		tls_exit(ctx, (long)ret, ex);                                                      \
		return 0;                                                                          \
	}

/* OpenSSL 1.1 and 3: int SSL_read/SSL_write(ssl, buf, num), and the _ex
 * calls (1.1.1 and later) that return 1 and the count in *got. */
TLS_ENTRY(httpsnoop_ssl_read, HTTPSNOOP_READ, 0)
TLS_RETURN(httpsnoop_ssl_read_ret, int, 0)
TLS_ENTRY(httpsnoop_ssl_write, HTTPSNOOP_WRITE, 0)
TLS_RETURN(httpsnoop_ssl_write_ret, int, 0)
TLS_ENTRY(httpsnoop_ssl_read_ex, HTTPSNOOP_READ, 1)
TLS_RETURN(httpsnoop_ssl_read_ex_ret, int, 1)
TLS_ENTRY(httpsnoop_ssl_write_ex, HTTPSNOOP_WRITE, 1)
TLS_RETURN(httpsnoop_ssl_write_ex_ret, int, 1)

/* GnuTLS: ssize_t gnutls_record_recv/send(session, data, size). */
TLS_ENTRY(httpsnoop_gnutls_recv, HTTPSNOOP_READ, 0)
TLS_ENTRY(httpsnoop_gnutls_send, HTTPSNOOP_WRITE, 0)
TLS_RETURN(httpsnoop_gnutls_ret, long, 0)
