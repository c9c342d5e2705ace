// Drive the protocol authors' C++ library for run.sh (built against their
// libzerobuffer.a and headers; not part of our build).
//
//   theirs-cpp read NAME FRAMES PAYLOAD_SIZE OUT   prints "ready", appends
//       every frame to OUT, then prints frames=N
//   theirs-cpp write NAME FRAMES SIZES             writes FRAMES frames of
//       the pattern of ours.py, sizes cycling through SIZES (a,b,c)

#include <zerobuffer/zerobuffer.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

static std::vector<uint8_t> pattern(size_t k, size_t size) {
    std::vector<uint8_t> d(size);
    for (size_t i = 0; i < size; i++)
        d[i] = static_cast<uint8_t>((k * 7 + i % 251) % 251);
    return d;
}

int main(int argc, char** argv) {
    if (argc < 5) {
        std::cerr << "usage: theirs-cpp read NAME FRAMES PAYLOAD OUT | write NAME FRAMES SIZES\n";
        return 2;
    }
    std::string mode = argv[1], name = argv[2];
    size_t frames = std::strtoull(argv[3], nullptr, 10);
    if (mode == "read" && argc == 6) {
        zerobuffer::Reader reader(name, zerobuffer::BufferConfig(4096, std::strtoull(argv[4], nullptr, 10)));
        FILE* out = std::fopen(argv[5], "wb");
        if (!out)
            return 3;
        std::cout << "ready" << std::endl;
        size_t got = 0;
        while (got < frames) {
            zerobuffer::Frame f = reader.read_frame(std::chrono::milliseconds(10000));
            if (!f.valid())
                break;
            std::fwrite(f.data(), 1, f.size(), out);
            reader.release_frame(f);
            got++;
        }
        std::fclose(out);
        std::cout << "frames=" << got << std::endl;
        return 0;
    }
    if (mode == "write") {
        std::vector<size_t> sizes;
        std::stringstream ss(argv[4]);
        std::string s;
        while (std::getline(ss, s, ','))
            sizes.push_back(std::strtoull(s.c_str(), nullptr, 10));
        zerobuffer::Writer writer(name);
        const std::string meta = "interop-cpp";
        writer.set_metadata(meta.data(), meta.size());
        for (size_t k = 0; k < frames; k++) {
            std::vector<uint8_t> d = pattern(k, sizes[k % sizes.size()]);
            writer.write_frame(d);
        }
        std::cout << "written=" << frames << std::endl;
        return 0;
    }
    return 2;
}
