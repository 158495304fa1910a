// Native reference for the parity tests: runs llama.cpp (built from the same pinned
// source) directly, with no minicpmv-edge code, and prints JSON.
//
//   oracle generate --model FILE --prompt TEXT [--n N] [--threads T] [--ctx N] [--logits-out FILE]
//   oracle encode --mmproj FILE --tile FILE --width W --height H [--merge 4|2] [--threads T] [--repeat N] --out FILE
//     (prints {"n_tokens", "n_embd", "ms": [time of each encode]})
//   oracle load --model FILE [--mmproj FILE] [--mmap 0|1] [--threads T]
//     (loads the pair as llama.cpp does, builds a 4096-token context, decodes 8 tokens; prints
//     {"model_ms", "mmproj_ms", "context_ms", "decode_ms", "peak_rss_kb"}: the memory/load baseline)
//   oracle evaluate --model FILE --input FILE --logits-out FILE [--threads T]
//   oracle chat --model FILE --mmproj FILE --image FILE --prompt TEXT [--threads T] [--ctx N]
//     (the prompt holds mtmd's default media marker; prints {"load_ms", "ttft_ms", "n_tokens",
//     "token", "max_rss_kb"}: model + mmproj + context load time, then image preprocessing,
//     encoding and prompt decoding up to the first sampled token, and the process's peak RSS)
//     input (little-endian): i32 n_tokens, i32 n_spans, i32 n_embd, i32 tokens[n_tokens], then per
//     span: i32 start, i32 rows, f32 embd[rows * n_embd] (embeddings replace tokens start..start+rows-1).
//     Decodes with sequential positions (the same in every rope section, as mtmd does for
//     MiniCPM-V slices) and writes the logits after the last token.
//
// Tokenizes the prompt (special tokens parsed, none added), decodes it, writes the logits
// after the prompt as raw little-endian f32 to --logits-out, then decodes up to N greedy
// tokens, stopping before an end-of-generation token.

#include "llama.h"
#include "clip.h"
#include "clip-impl.h"
#include "clip-model.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <algorithm>
#include <chrono>
#include <sys/resource.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void usage() {
    fprintf(stderr, "usage: oracle generate --model FILE --prompt TEXT [--n N] [--threads T] [--ctx N] [--logits-out FILE]\n"
                    "       oracle encode --mmproj FILE --tile FILE --width W --height H [--merge 4|2] [--threads T] --out FILE\n"
                    "       oracle evaluate --model FILE --input FILE --logits-out FILE [--threads T]\n"
                    "       oracle chat --model FILE --mmproj FILE --image FILE --prompt TEXT [--threads T] [--ctx N]\n");
    exit(2);
}

// Encodes one preprocessed tile (raw f32, height x width x 3) with the mmproj and writes the
// embeddings (raw f32, n_tokens x n_embd). merge 4 = 16x, 2 = 4x, set on the loaded model.
static void quiet_log(ggml_log_level level, const char * text, void *);

static int encode(int argc, char ** argv) {
    std::string mmproj, tile, out;
    int w = 0, h = 0, merge = 4, n_threads = 2, repeat = 1;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "--mmproj") mmproj = argv[++i];
        else if (a == "--tile") tile = argv[++i];
        else if (a == "--out") out = argv[++i];
        else if (a == "--width") w = atoi(argv[++i]);
        else if (a == "--height") h = atoi(argv[++i]);
        else if (a == "--merge") merge = atoi(argv[++i]);
        else if (a == "--threads") n_threads = atoi(argv[++i]);
        else if (a == "--repeat") repeat = atoi(argv[++i]);
        else usage();
    }
    if (mmproj.empty() || tile.empty() || out.empty() || w <= 0 || h <= 0) usage();
    clip_context_params p = {};
    p.use_gpu = false;
    p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_AUTO;
    p.image_min_tokens = -1;
    p.image_max_tokens = -1;
    p.warmup = false;
    clip_init_result r = clip_init(mmproj.c_str(), p);
    if (!r.ctx_v) { fprintf(stderr, "oracle: cannot load %s\n", mmproj.c_str()); return 1; }
    const_cast<clip_hparams *>(clip_get_hparams(r.ctx_v))->n_merge = merge;
    clip_image_f32 img;
    img.set_size({w, h}, false, false);
    std::vector<float> rgb((size_t) w * h * 3);
    FILE * f = fopen(tile.c_str(), "rb");
    if (!f || fread(rgb.data(), sizeof(float), rgb.size(), f) != rgb.size()) {
        fprintf(stderr, "oracle: cannot read %zu floats from %s\n", rgb.size(), tile.c_str());
        return 1;
    }
    fclose(f);
    img.cpy_buf(rgb);
    // clip_encode copies only into a buffer of the right size
    std::vector<float> embd((size_t) clip_n_output_tokens(r.ctx_v, &img) * clip_n_mmproj_embd(r.ctx_v));
    std::vector<double> ms;
    for (int k = 0; k < repeat; k++) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!clip_image_encode(r.ctx_v, n_threads, &img, embd)) { fprintf(stderr, "oracle: encode failed\n"); return 1; }
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    f = fopen(out.c_str(), "wb");
    fwrite(embd.data(), sizeof(float), embd.size(), f);
    fclose(f);
    printf("{\"n_tokens\":%d,\"n_embd\":%d,\"ms\":[", clip_n_output_tokens(r.ctx_v, &img), clip_n_mmproj_embd(r.ctx_v));
    for (size_t k = 0; k < ms.size(); k++) printf(k ? ",%.1f" : "%.1f", ms[k]);
    printf("]}\n");
    clip_free(r.ctx_v);
    return 0;
}

static void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void json_string(const std::string & s) {
    putchar('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_tokens(const char * name, const std::vector<llama_token> & toks) {
    printf("\"%s\":[", name);
    for (size_t i = 0; i < toks.size(); i++) printf(i ? ",%d" : "%d", toks[i]);
    printf("]");
}

static int evaluate(int argc, char ** argv) {
    std::string model_path, input, logits_out;
    int n_threads = 2;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "--model") model_path = argv[++i];
        else if (a == "--input") input = argv[++i];
        else if (a == "--logits-out") logits_out = argv[++i];
        else if (a == "--threads") n_threads = atoi(argv[++i]);
        else usage();
    }
    if (model_path.empty() || input.empty() || logits_out.empty()) usage();
    FILE * f = fopen(input.c_str(), "rb");
    if (!f) { fprintf(stderr, "oracle: cannot open %s\n", input.c_str()); return 1; }
    int32_t hdr[3];
    if (fread(hdr, sizeof(int32_t), 3, f) != 3) return 1;
    const int n_tokens = hdr[0], n_spans = hdr[1], n_embd = hdr[2];
    std::vector<llama_token> tokens(n_tokens);
    if (fread(tokens.data(), sizeof(int32_t), n_tokens, f) != (size_t) n_tokens) return 1;
    struct span { int start, rows; std::vector<float> embd; };
    std::vector<span> spans(n_spans);
    for (auto & sp : spans) {
        int32_t sr[2];
        if (fread(sr, sizeof(int32_t), 2, f) != 2) return 1;
        sp.start = sr[0];
        sp.rows = sr[1];
        sp.embd.resize((size_t) sp.rows * n_embd);
        if (fread(sp.embd.data(), sizeof(float), sp.embd.size(), f) != sp.embd.size()) return 1;
    }
    fclose(f);

    llama_model_params mp = llama_model_default_params();
    mp.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) { fprintf(stderr, "oracle: cannot load %s\n", model_path.c_str()); return 1; }
    if (llama_model_n_embd(model) != n_embd) { fprintf(stderr, "oracle: n_embd mismatch\n"); return 1; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 4096;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;

    auto decode_tokens = [&](int from, int to, bool last) {
        for (int s = from; s < to; s += 512) {
            const int n = std::min(512, to - s);
            llama_batch b = llama_batch_init(n, 0, 1);
            for (int i = 0; i < n; i++) {
                b.token[i] = tokens[s + i];
                b.pos[i] = s + i;
                b.n_seq_id[i] = 1;
                b.seq_id[i][0] = 0;
                b.logits[i] = last && s + i == to - 1;
            }
            b.n_tokens = n;
            const int rc = llama_decode(ctx, b);
            llama_batch_free(b);
            if (rc != 0) return false;
        }
        return true;
    };
    int next = 0;
    for (auto & sp : spans) {
        if (!decode_tokens(next, sp.start, false)) return 1;
        for (int s = 0; s < sp.rows; s += 512) {
            const int n = std::min(512, sp.rows - s);
            std::vector<llama_pos> pos((size_t) n * 4);
            for (int j = 0; j < 4; j++) for (int i = 0; i < n; i++) pos[(size_t) j * n + i] = sp.start + s + i;
            std::vector<int32_t> n_seq(n, 1);
            llama_seq_id seq0 = 0;
            std::vector<llama_seq_id *> seqs(n, &seq0);
            std::vector<int8_t> logits(n, 0);
            llama_batch b = {};
            b.n_tokens = n;
            b.embd = sp.embd.data() + (size_t) s * n_embd;
            b.pos = pos.data();
            b.n_seq_id = n_seq.data();
            b.seq_id = seqs.data();
            b.logits = logits.data();
            if (llama_decode(ctx, b) != 0) return 1;
        }
        next = sp.start + sp.rows;
    }
    if (!decode_tokens(next, n_tokens, true)) return 1;
    f = fopen(logits_out.c_str(), "wb");
    fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), llama_vocab_n_tokens(llama_model_get_vocab(model)), f);
    fclose(f);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

static int load(int argc, char ** argv) {
    std::string model_path, mmproj;
    int mmap = 0, n_threads = 2;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "--model") model_path = argv[++i];
        else if (a == "--mmproj") mmproj = argv[++i];
        else if (a == "--mmap") mmap = atoi(argv[++i]);
        else if (a == "--threads") n_threads = atoi(argv[++i]);
        else usage();
    }
    if (model_path.empty()) usage();
    auto t0 = std::chrono::steady_clock::now();
    llama_model_params mp = llama_model_default_params();
    if (!mmap) mp.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) { fprintf(stderr, "oracle: cannot load %s\n", model_path.c_str()); return 1; }
    const double model_ms = ms_since(t0);
    double mmproj_ms = 0;
    if (!mmproj.empty()) {
        t0 = std::chrono::steady_clock::now();
        clip_context_params p = {};
        p.use_gpu = false;
        p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_AUTO;
        p.image_min_tokens = -1;
        p.image_max_tokens = -1;
        p.warmup = false;
        clip_init_result r = clip_init(mmproj.c_str(), p);
        if (!r.ctx_v) { fprintf(stderr, "oracle: cannot load %s\n", mmproj.c_str()); return 1; }
        mmproj_ms = ms_since(t0);
    }
    t0 = std::chrono::steady_clock::now();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 4096;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    const double context_ms = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    llama_batch b = llama_batch_init(8, 0, 1);
    for (int i = 0; i < 8; i++) {
        b.token[i] = 100 + i;
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = i == 7;
    }
    b.n_tokens = 8;
    if (llama_decode(ctx, b) != 0) return 1;
    const double decode_ms = ms_since(t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"model_ms\":%.1f,\"mmproj_ms\":%.1f,\"context_ms\":%.1f,\"decode_ms\":%.1f,\"peak_rss_kb\":%ld}\n",
           model_ms, mmproj_ms, context_ms, decode_ms, ru.ru_maxrss);
    return 0;
}

// One image prompt the way llama.cpp's own tools run it (mtmd_tokenize + mtmd_helper_eval_chunks):
// the native side of the time-to-first-token benchmark.
static int chat(int argc, char ** argv) {
    std::string model_path, mmproj, image, prompt;
    int n_threads = 2, n_ctx = 4096;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "--model") model_path = argv[++i];
        else if (a == "--mmproj") mmproj = argv[++i];
        else if (a == "--image") image = argv[++i];
        else if (a == "--prompt") prompt = argv[++i];
        else if (a == "--threads") n_threads = atoi(argv[++i]);
        else if (a == "--ctx") n_ctx = atoi(argv[++i]);
        else usage();
    }
    if (model_path.empty() || mmproj.empty() || image.empty() || prompt.empty()) usage();
    using clock = std::chrono::steady_clock;
    const auto ms_since = [](clock::time_point t0) { return std::chrono::duration<double, std::milli>(clock::now() - t0).count(); };
    const auto t0 = clock::now();
    llama_model_params mp = llama_model_default_params();
    mp.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) { fprintf(stderr, "oracle: cannot load %s\n", model_path.c_str()); return 1; }
    mtmd_context_params mparams = mtmd_context_params_default();
    mparams.use_gpu = false;
    mparams.n_threads = n_threads;
    mparams.print_timings = false;
    mparams.warmup = false;
    mtmd_context * mctx = mtmd_init_from_file(mmproj.c_str(), model, mparams);
    if (!mctx) { fprintf(stderr, "oracle: cannot load %s\n", mmproj.c_str()); return 1; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "oracle: cannot create context\n"); return 1; }
    const double load_ms = ms_since(t0);

    const auto t1 = clock::now();
    mtmd_helper_bitmap_wrapper bw = mtmd_helper_bitmap_init_from_file(mctx, image.c_str(), false, mtmd_helper_init_opt_default());
    if (!bw.bitmap) { fprintf(stderr, "oracle: cannot read %s\n", image.c_str()); return 1; }
    mtmd_input_text text = { prompt.c_str(), prompt.size(), false, true };
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    const mtmd_bitmap * bitmaps[1] = { bw.bitmap };
    if (mtmd_tokenize(mctx, chunks, &text, bitmaps, 1) != 0) { fprintf(stderr, "oracle: tokenize failed\n"); return 1; }
    llama_pos n_past = 0;
    if (mtmd_helper_eval_chunks(mctx, ctx, chunks, 0, 0, 512, true, &n_past) != 0) { fprintf(stderr, "oracle: eval failed\n"); return 1; }
    llama_sampler * greedy = llama_sampler_init_greedy();
    const llama_token tok = llama_sampler_sample(greedy, ctx, -1);
    const double ttft_ms = ms_since(t1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"load_ms\":%.1f,\"ttft_ms\":%.1f,\"n_tokens\":%zu,\"token\":%d,\"max_rss_kb\":%ld}\n", load_ms, ttft_ms,
           mtmd_helper_get_n_tokens(chunks), tok, ru.ru_maxrss);
    llama_sampler_free(greedy);
    mtmd_input_chunks_free(chunks);
    mtmd_bitmap_free(bw.bitmap);
    llama_free(ctx);
    mtmd_free(mctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc >= 2 && strcmp(argv[1], "evaluate") == 0) {
        llama_log_set(quiet_log, nullptr);
        llama_backend_init();
        return evaluate(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "load") == 0) {
        llama_log_set(quiet_log, nullptr);
        mtmd_log_set(quiet_log, nullptr);
        llama_backend_init();
        return load(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "chat") == 0) {
        llama_log_set(quiet_log, nullptr);
        mtmd_log_set(quiet_log, nullptr);
        llama_backend_init();
        return chat(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) {
        llama_log_set(quiet_log, nullptr);
        mtmd_log_set(quiet_log, nullptr);
        return encode(argc, argv);
    }
    if (argc < 2 || strcmp(argv[1], "generate") != 0) usage();
    std::string model_path, prompt, logits_out;
    int n_predict = 16, n_threads = 2, n_ctx = 1024;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "--model") model_path = argv[++i];
        else if (a == "--prompt") prompt = argv[++i];
        else if (a == "--n") n_predict = atoi(argv[++i]);
        else if (a == "--threads") n_threads = atoi(argv[++i]);
        else if (a == "--ctx") n_ctx = atoi(argv[++i]);
        else if (a == "--logits-out") logits_out = argv[++i];
        else usage();
    }
    if (model_path.empty()) usage();

    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) { fprintf(stderr, "oracle: cannot load %s\n", model_path.c_str()); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx;
    cp.n_ubatch = 512;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "oracle: cannot create context\n"); return 1; }

    std::vector<llama_token> prompt_tokens(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.data(), (int) prompt.size(), prompt_tokens.data(),
                           (int) prompt_tokens.size(), false, true);
    if (n < 0) { fprintf(stderr, "oracle: tokenize failed\n"); return 1; }
    prompt_tokens.resize(n);

    llama_sampler * greedy = llama_sampler_init_greedy();
    std::vector<llama_token> out;
    llama_batch batch = llama_batch_get_one(prompt_tokens.data(), (int) prompt_tokens.size());
    for (int step = 0; step < n_predict; step++) {
        if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "oracle: decode failed\n"); return 1; }
        if (step == 0 && !logits_out.empty()) {
            FILE * f = fopen(logits_out.c_str(), "wb");
            fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), llama_vocab_n_tokens(vocab), f);
            fclose(f);
        }
        llama_token t = llama_sampler_sample(greedy, ctx, -1);
        if (llama_vocab_is_eog(vocab, t)) break; // like the engine: the end token is not output
        out.push_back(t);
        batch = llama_batch_get_one(&out.back(), 1);
    }

    std::string text;
    for (llama_token t : out) {
        char buf[256];
        int len = llama_token_to_piece(vocab, t, buf, sizeof buf, 0, false);
        if (len > 0) text.append(buf, len);
    }
    printf("{");
    json_tokens("prompt_tokens", prompt_tokens);
    printf(",");
    json_tokens("tokens", out);
    printf(",\"text\":");
    json_string(text);
    printf(",\"n_vocab\":%d}\n", llama_vocab_n_tokens(vocab));

    llama_sampler_free(greedy);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
