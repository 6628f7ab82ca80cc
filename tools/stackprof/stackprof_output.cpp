// SPDX-License-Identifier: GPL-2.0-only
#include "stackprof_output.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

namespace bpfkit::stackprof {

namespace {

std::string clean(const std::string &s) {
    std::string o = s;
    for (auto &c : o) {
        auto u = static_cast<unsigned char>(c);
        if (c == ';')
            c = ':';
        else if (u < 0x20 || u == 0x7f)
            c = '?';
    }
    return o;
}

std::string frame_text(const Frame &f) {
    return clean(f.name) + (f.kernel ? "_[k]" : "");
}

std::string xml(const std::string &s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '<':
                o += "&lt;";
                break;
            case '>':
                o += "&gt;";
                break;
            case '&':
                o += "&amp;";
                break;
            case '"':
                o += "&quot;";
                break;
            case '\'':
                o += "&#39;";
                break;
            default:
                o += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
        }
    }
    return o;
}

}  // namespace

uint64_t Profile::total() const {
    uint64_t t = 0;
    for (const auto &s : stacks)
        t += s.count;
    return t;
}

std::string folded_line(const Stack &s) {
    std::string line = clean(s.comm.empty() ? "?" : s.comm);
    for (const auto &f : s.frames)
        line += ";" + frame_text(f);
    return line + " " + std::to_string(s.count);
}

Profile merge_by_names(const Profile &p) {
    std::map<std::string, Stack> m;
    for (const auto &s : p.stacks) {
        std::string k = clean(s.comm);
        for (const auto &f : s.frames)
            k += ";" + frame_text(f);
        auto [it, fresh] = m.try_emplace(k, s);
        if (!fresh) it->second.count += s.count;
    }
    Profile out;
    for (auto &[k, s] : m)
        out.stacks.push_back(std::move(s));
    return out;
}

std::string folded(const Profile &p) {
    std::string out;
    for (const auto &s : merge_by_names(p).stacks)
        out += folded_line(s) + "\n";
    return out;
}

std::vector<TopEntry> top_functions(const Profile &p, size_t n) {
    std::map<std::string, TopEntry> m;
    for (const auto &s : p.stacks) {
        std::set<std::string> in_stack;
        for (size_t i = 0; i < s.frames.size(); i++) {
            const Frame &f = s.frames[i];
            std::string name = (f.kernel ? "[k] " : "") + clean(f.name);
            TopEntry &e = m[name];
            e.name = name;
            if (in_stack.insert(name).second) e.total += s.count;
            if (i + 1 == s.frames.size()) e.self += s.count;
        }
    }
    std::vector<TopEntry> v;
    for (auto &[k, e] : m)
        v.push_back(e);
    std::sort(v.begin(), v.end(), [](const TopEntry &a, const TopEntry &b) {
        if (a.self != b.self) return a.self > b.self;
        if (a.total != b.total) return a.total > b.total;
        return a.name < b.name;
    });
    if (n && v.size() > n) v.resize(n);
    return v;
}

std::string top_text(const Profile &p, size_t n) {
    uint64_t total = p.total();
    std::string out;
    char line[128];
    snprintf(line, sizeof(line), "%7s %9s %7s %9s  %s\n", "SELF%", "SELF", "TOTAL%", "TOTAL",
             "FUNCTION");
    out += line;
    for (const auto &e : top_functions(p, n)) {
        double sp = total ? 100.0 * static_cast<double>(e.self) / static_cast<double>(total) : 0;
        double tp = total ? 100.0 * static_cast<double>(e.total) / static_cast<double>(total) : 0;
        snprintf(line, sizeof(line), "%6.2f%% %9" PRIu64 " %6.2f%% %9" PRIu64 "  ", sp, e.self, tp,
                 e.total);
        out += line + e.name + "\n";
    }
    return out;
}

namespace {

struct Node {
    std::string name;
    bool kernel = false;
    uint64_t count = 0;
    std::map<std::string, std::unique_ptr<Node>> kids;
};

constexpr int kWidth = 1200, kPad = 10, kRow = 16, kTop = 60;

struct Layout {
    std::string body;
    int max_depth = 0;
    uint64_t total = 0;
};

// A warm colour from the name (kernel frames orange), as flame graphs have them.
std::string colour(const Node &n, int depth) {
    unsigned h = 2166136261u;
    for (char c : n.name)
        h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    char b[32];
    if (depth == 0)
        snprintf(b, sizeof(b), "rgb(%u,%u,%u)", 200 + h % 40, 200 + h % 40, 200 + h % 40);
    else if (n.kernel)
        snprintf(b, sizeof(b), "rgb(%u,%u,%u)", 220 + h % 30, 120 + h % 60, 40 + h % 30);
    else
        snprintf(b, sizeof(b), "rgb(%u,%u,%u)", 205 + h % 50, 80 + (h >> 8) % 120,
                 40 + (h >> 16) % 40);
    return b;
}

void lay(const Node &n, uint64_t x, int depth, Layout &l) {
    double scale = static_cast<double>(kWidth - 2 * kPad) / static_cast<double>(l.total);
    double w = static_cast<double>(n.count) * scale;
    if (w < 0.1) return;
    l.max_depth = std::max(l.max_depth, depth);
    char head[256];
    double pct = 100.0 * static_cast<double>(n.count) / static_cast<double>(l.total);
    snprintf(head, sizeof(head),
             "<g class=\"f\" data-x=\"%" PRIu64 "\" data-w=\"%" PRIu64 "\" data-d=\"%d\"><title>",
             x, n.count, depth);
    l.body += head;
    char tail[512];
    snprintf(tail, sizeof(tail), " (%" PRIu64 " samples, %.2f%%)</title>", n.count, pct);
    l.body += xml(n.name) + tail;
    // y is filled in by depth from the bottom when the document is closed (see flamegraph_svg).
    snprintf(head, sizeof(head),
             "<rect x=\"%.2f\" y=\"D%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
             kPad + static_cast<double>(x) * scale, depth, w, kRow - 1, colour(n, depth).c_str());
    l.body += head;
    size_t chars = static_cast<size_t>(w / 7);
    std::string label = n.name;
    if (chars < 3)
        label.clear();
    else if (label.size() > chars)
        label = label.substr(0, chars - 2) + "..";
    snprintf(head, sizeof(head), "<text x=\"%.2f\" y=\"T%d\">",
             kPad + static_cast<double>(x) * scale + 3, depth);
    l.body += head + xml(label) + "</text></g>\n";
    uint64_t cx = x;
    for (const auto &[k, kid] : n.kids) {
        lay(*kid, cx, depth + 1, l);
        cx += kid->count;
    }
}

const char *kScript = R"JS(
var W=1200,P=10,names=[],gs=[];
function init(){gs=Array.prototype.slice.call(document.querySelectorAll('g.f'));
 gs.forEach(function(g){g.n=g.querySelector('title').textContent.replace(/ \([0-9]+ samples, [0-9.]+%\)$/,'');
  g.x=+g.getAttribute('data-x');g.w=+g.getAttribute('data-w');g.d=+g.getAttribute('data-d');
  g.fill=g.querySelector('rect').getAttribute('fill');
  g.onclick=function(){zoom(g);};});
 document.getElementById('reset').onclick=function(){zoom(gs[0]);};
 document.getElementById('search').onclick=search;}
function label(g,w){var t=g.querySelector('text'),c=Math.floor(w/7),s=g.n;
 if(c<3)s='';else if(s.length>c)s=s.substring(0,c-2)+'..';t.textContent=s;}
function zoom(z){var s=(W-2*P)/z.w;
 gs.forEach(function(g){var r=g.querySelector('rect'),t=g.querySelector('text');
  if(g.x+g.w<=z.x||g.x>=z.x+z.w){g.style.display='none';return;}
  g.style.display='';var x,w;
  if(g.d<z.d){x=P;w=W-2*P;g.style.opacity=0.6;}else{x=P+(g.x-z.x)*s;w=g.w*s;g.style.opacity=1;}
  if(w<0.1){g.style.display='none';return;}
  r.setAttribute('x',x);r.setAttribute('width',w);t.setAttribute('x',x+3);label(g,w);});
 document.getElementById('reset').style.display=z===gs[0]?'none':'';}
function search(){var q=prompt('Search (regular expression)','');if(q===null)return;
 var re;try{re=new RegExp(q);}catch(e){alert(e);return;}
 var hit=0,ranges=[];
 gs.forEach(function(g){var r=g.querySelector('rect');
  if(q!==''&&re.test(g.n)){r.setAttribute('fill','rgb(230,0,230)');
   if(!ranges.some(function(a){return g.x>=a[0]&&g.x<a[1];})){ranges.push([g.x,g.x+g.w]);hit+=g.w;}}
  else r.setAttribute('fill',g.fill);});
 document.getElementById('matched').textContent=q===''?'':'Matched: '+(100*hit/gs[0].w).toFixed(2)+'%';}
window.addEventListener('load',init);
)JS";

}  // namespace

std::string flamegraph_svg(const Profile &p, const std::string &title) {
    Node root;
    root.name = "all";
    for (const auto &s : p.stacks) {
        root.count += s.count;
        Node *n = &root;
        auto step = [&](const std::string &name, bool kernel) {
            std::string key = (kernel ? "k:" : "u:") + name;
            auto &kid = n->kids[key];
            if (!kid) {
                kid = std::make_unique<Node>();
                kid->name = name + (kernel ? " [k]" : "");
                kid->kernel = kernel;
            }
            kid->count += s.count;
            n = kid.get();
        };
        step(clean(s.comm.empty() ? "?" : s.comm), false);
        for (const auto &f : s.frames)
            step(clean(f.name), f.kernel);
    }
    Layout l;
    l.total = root.count ? root.count : 1;
    if (root.count) lay(root, 0, 0, l);
    int height = kTop + (l.max_depth + 1) * kRow + 30;
    // Depth 0 at the bottom.
    std::string body;
    body.reserve(l.body.size());
    for (size_t i = 0; i < l.body.size(); i++) {
        char c = l.body[i];
        if ((c == 'D' || c == 'T') && i > 0 && l.body[i - 1] == '"' && i + 1 < l.body.size() &&
            isdigit(static_cast<unsigned char>(l.body[i + 1]))) {
            size_t j = i + 1;
            int d = 0;
            while (j < l.body.size() && isdigit(static_cast<unsigned char>(l.body[j])))
                d = d * 10 + (l.body[j++] - '0');
            int y = height - 30 - (d + 1) * kRow;
            body += std::to_string(c == 'D' ? y : y + kRow - 4);
            i = j - 1;
            continue;
        }
        body += c;
    }
    char head[1024];
    snprintf(head, sizeof(head),
             "<?xml version=\"1.0\" standalone=\"no\"?>\n"
             "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "xmlns=\"http://www.w3.org/2000/svg\">\n"
             "<style>text{font-family:monospace;font-size:12px;pointer-events:none}"
             "g.f:hover rect{stroke:black;stroke-width:0.5}#reset,#search{cursor:pointer}"
             "</style>\n"
             "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"rgb(250,250,240)\"/>\n",
             kWidth, height, kWidth, height, kWidth, height);
    std::string out = head;
    snprintf(head, sizeof(head),
             "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" style=\"font-size:17px\">",
             kWidth / 2);
    out += head + xml(title) + "</text>\n";
    snprintf(head, sizeof(head),
             "<text id=\"reset\" x=\"%d\" y=\"48\" style=\"display:none\">Reset zoom</text>\n"
             "<text id=\"search\" x=\"%d\" y=\"48\" text-anchor=\"end\">Search</text>\n"
             "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n",
             kPad, kWidth - kPad, kWidth - kPad, height - 10);
    out += head;
    out += "<script type=\"text/ecmascript\"><![CDATA[" + std::string(kScript) + "]]></script>\n";
    out += body;
    out += "</svg>\n";
    return out;
}

}  // namespace bpfkit::stackprof
