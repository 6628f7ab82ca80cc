// libFuzzer target: json_escape() must be lossless, single-line and valid UTF-8 for any input.
//   clang++ -std=c++20 -g -fsanitize=fuzzer,address,undefined -Icommon \
//       tests/fuzz/fuzz_json_escape.cpp common/json.cpp -o fuzz_json_escape
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "json.h"
#include "json_decode.h"

namespace {

[[noreturn]] void fail(const char *what) {
    fprintf(stderr, "fuzz_json_escape: %s\n", what);
    abort();
}

void check_line(const std::string &s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) fail("raw control byte in output");
    }
    if (!bpfkit_test::is_valid_utf8(s)) fail("output is not valid UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view in(reinterpret_cast<const char *>(data), size);

    // 1. escape -> decode is the identity.
    const std::string esc = bpfkit::json_escape(in);
    check_line(esc);
    std::string dec;
    size_t consumed = 0;
    if (!bpfkit_test::json_decode_string(esc, dec, &consumed)) fail("decoder rejected output");
    if (consumed != esc.size()) fail("literal ends early");
    if (dec != in) fail("round trip mismatch");

    // 2. The same through JsonWriter, as key and value.
    bpfkit::JsonWriter w;
    w.begin_object().kv(in, in).end_object();
    const std::string &line = w.str();
    check_line(line);
    if (line.size() != 2 * esc.size() + 3 || line.front() != '{' || line.back() != '}' ||
        line.compare(1, esc.size(), esc) != 0 || line[1 + esc.size()] != ':' ||
        line.compare(2 + esc.size(), esc.size(), esc) != 0) {
        fail("writer output differs from escaper output");
    }

    // 3. The same written at a pointer, within the room it promises (the
    //    buffer is exactly that big, so ASan sees any byte past it).
    {
        auto room = std::make_unique<char[]>(bpfkit::json_escape_room(in.size()));
        char *end = bpfkit::json_escape_to(room.get(), in);
        if (std::string_view(room.get(), static_cast<size_t>(end - room.get())) != esc)
            fail("json_escape_to differs from json_escape");
    }

    // 4. Whatever JSON string the input happens to be, decoding, re-escaping and decoding again
    //    gives the same bytes (exercises the decoder on hostile input too).
    std::string first;
    if (bpfkit_test::json_decode_string(in, first)) {
        const std::string again = bpfkit::json_escape(first);
        std::string second;
        if (!bpfkit_test::json_decode_string(again, second) || second != first) {
            fail("decode/escape/decode mismatch");
        }
    }
    return 0;
}
