// bpfkit-trafficgen: a test traffic generator that prints the exact ground
// truth of what each of its processes sent and received (JSON lines), so tests
// can check a per-process network monitor against it.
//
// It only ever sends to the numeric addresses given on its command line (a
// server only answers peers that reached it), every run is bounded in bytes or
// datagrams, and every run ends by --timeout (default 30 s) at the latest.
#include "tg.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

namespace {

constexpr const char *kUsage = R"(Usage: bpfkit-trafficgen COMMAND [OPTIONS]

Makes real traffic to the addresses given and prints, as JSON lines on stdout,
the exact bytes and calls of every process that moved bytes.

Commands:
  serve --tcp PORT --udp PORT [--bind ADDR]... [--echo] [--tcp-send N]
        [--tcp-conns N] [--udp-count N] [--per-conn] [--ready-file FILE]
      Receive and count. Stops on SIGTERM/SIGINT, or once --tcp-conns TCP
      connections have closed and --udp-count datagrams arrived (exit 0).
      --bind defaults to 127.0.0.1 and ::1; PORT 0 picks a free port.
  tcp-bulk --to ADDR:PORT --bytes N [--chunk N] [--recv-bytes N] [--rate BYTES_PER_S]
      One connection: send N bytes, shut down writing, read until the server
      closes. --recv-bytes fails the run unless exactly N bytes came back.
  udp --to ADDR:PORT --count N --size S [--connected|--unconnected]
      [--expect-replies] [--pps N]
      N datagrams of S bytes, with send() (connected, the default) or sendto().
  short-lived --to ADDR:PORT --procs N --bytes B [--parallel P]
      [--child-comm NAME] [--max-conn-ms MS] [--no-rt]
      N child processes (P at a time, default one per CPU up to 8), each:
      connect, send B bytes, close, exit. One line per child and a summary
      line with max_conn_ms; --max-conn-ms fails the run above that. Where
      allowed, each connection runs under SCHED_FIFO (--no-rt: never) so a
      busy machine does not stretch it.

  dns-serve --listen ADDR:PORT [--answer IPV4] [--drop SUFFIX] [--nx SUFFIX]
        [--slow SUFFIX [--slow-ms MS]] [--ready-file FILE]
      A tiny DNS responder on UDP and TCP (PORT 0 picks one): A queries get
      one A record (10.9.9.9 unless --answer), other types none; names ending
      in --nx get NXDOMAIN, in --drop no answer, in --slow their answer after
      --slow-ms (200; the responder waits meanwhile). Runs until --timeout
      (exit 0).
  dns-query --to ADDR:PORT [--tcp] [--wait-ms MS] [--linger-ms MS] --name NAME...
      One query per --name (NAME, or NAME/AAAA), each on a socket of its own
      (UDP) or all on one connection (--tcp); one line per query with pid,
      tid, comm, ports, id, rcode ("" when no answer came within --wait-ms).
  http-get --to ADDR:PORT [--path PATH] [--api sendto|sendmsg]
      One HTTP/1.0 GET, sent with sendto() or sendmsg() (two iovecs) and its
      answer read with recvfrom() or recvmsg() until the server closes; one
      line with pid, comm, api, path, status and bytes. Exit 1 without a
      status line.

Every command takes:
  --comm NAME      process name (PR_SET_NAME, 1-15 bytes) set before any traffic
  --timeout S      hard limit in seconds (default 30); past it the run exits 1
Addresses are numeric: 10.0.0.1:80 or [fd00::1]:80. Sizes take K, M, G (x1024).

Exit status: 0 success, 1 network error or timeout, 2 usage error.
)";

}  // namespace

int main(int argc, char **argv) {
    using namespace tg;
    if (argc < 2) {
        std::fprintf(stderr, "%s: missing sub-command (try --help)\n", kProg);
        return 2;
    }
    std::string_view cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0) {
            std::fputs(kUsage, stdout);
            return 0;
        }
    }
    try {
        if (cmd == "serve") return run_serve(argc, argv);
        if (cmd == "tcp-bulk") return run_tcp_bulk(argc, argv);
        if (cmd == "udp") return run_udp(argc, argv);
        if (cmd == "short-lived") return run_short_lived(argc, argv);
        if (cmd == "__child") return run_child(argc, argv);
        if (cmd == "dns-serve") return run_dns_serve(argc, argv);
        if (cmd == "dns-query") return run_dns_query(argc, argv);
        if (cmd == "http-get") return run_http_get(argc, argv);
        throw UsageError("unknown sub-command '" + std::string(cmd) + "' (try --help)");
    } catch (const UsageError &e) {
        std::fprintf(stderr, "%s: %s\n", kProg, e.what());
        return 2;
    } catch (const NetError &e) {
        std::fprintf(stderr, "%s: %s\n", kProg, e.what());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: %s\n", kProg, e.what());
        return 1;
    }
}
