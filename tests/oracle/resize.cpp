// Native reference for the resize parity test: llama.cpp's own Pillow-bicubic resampler
// (img_tool::resize_pillow in tools/mtmd/mtmd-image.cpp, pinned source), compiled unchanged.
//
//   resize IN.rgb WIDTH HEIGHT OUT_WIDTH OUT_HEIGHT OUT.rgb     (raw 8-bit RGB, interleaved)

#include "mtmd-image.cpp"

#include <cstdio>
#include <cstdlib>

int main(int argc, char ** argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: resize IN.rgb WIDTH HEIGHT OUT_WIDTH OUT_HEIGHT OUT.rgb\n");
        return 2;
    }
    const int w = atoi(argv[2]), h = atoi(argv[3]), ow = atoi(argv[4]), oh = atoi(argv[5]);
    clip_image_u8 src;
    src.set_size({w, h}, false);
    std::vector<uint8_t> buf((size_t) w * h * 3);
    FILE * f = fopen(argv[1], "rb");
    if (!f || fread(buf.data(), 1, buf.size(), f) != buf.size()) { fprintf(stderr, "resize: cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    src.cpy_buf(buf);
    clip_image_u8 dst;
    img_tool::resize(src, dst, {ow, oh}, RESIZE_ALGO_BICUBIC, PAD_NONE);
    f = fopen(argv[6], "wb");
    fwrite(dst.get_ro_buf().data(), 1, (size_t) ow * oh * 3, f);
    fclose(f);
    return 0;
}
