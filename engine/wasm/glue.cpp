// minicpmv-edge: a thin C ABI over llama.cpp for the WASM build.
// Every function is a plain export (mce_*). Policy (chat, sampling order,
// batching, scheduling) lives in TypeScript; this file only adapts types.

#include "llama.h"
#include "ggml-cpu.h"
#include "clip.h"
#include "clip-impl.h"
#include "clip-model.h"
#include "mtmd.h"
#include "json-schema-to-grammar.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define MCE_EXPORT extern "C" EMSCRIPTEN_KEEPALIVE
#else
#define MCE_EXPORT extern "C"
#endif

namespace {

std::string g_last_error;
int g_log_level = GGML_LOG_LEVEL_WARN; // messages at or above this level go to stderr

void log_callback(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) {
        // llama.cpp reports one failure as several lines; keep the first as the reason.
        if (g_last_error.empty()) g_last_error = text;
    }
    if (level != GGML_LOG_LEVEL_CONT && level >= g_log_level) {
        fputs(text, stderr);
    }
}

void set_error(const char * fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_last_error = buf;
}

struct mce_context {
    llama_context * ctx;
    ggml_threadpool * pool;
    llama_batch batch;
    int32_t batch_capacity;
};

} // namespace

// ---- process ---------------------------------------------------------------

MCE_EXPORT void mce_init(int log_level) {
    g_log_level = log_level;
    llama_log_set(log_callback, nullptr);
    mtmd_log_set(log_callback, nullptr); // clip logs through the same level filter
    llama_backend_init();
}

// The reason for the most recent failure (empty when none).
MCE_EXPORT const char * mce_last_error() { return g_last_error.c_str(); }

// ---- model -----------------------------------------------------------------

// paths: n_paths NUL-terminated strings; several paths = the shards of one split set, in order.
MCE_EXPORT llama_model * mce_model_load(const char ** paths, int32_t n_paths) {
    g_last_error.clear();
    llama_model_params mp = llama_model_default_params();
    mp.load_mode = LLAMA_LOAD_MODE_NONE; // no mmap in wasm: tensors are read into the heap
    mp.lazy_mode = LLAMA_LAZY_MODE_OFF;
    mp.use_extra_bufts = false;
    llama_model * model = nullptr;
    try {
        model = n_paths == 1 ? llama_model_load_from_file(paths[0], mp)
                             : llama_model_load_from_splits(paths, (size_t) n_paths, mp);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return nullptr;
    }
    if (!model && g_last_error.empty()) set_error("failed to load model");
    return model;
}

MCE_EXPORT void mce_model_free(llama_model * model) { llama_model_free(model); }

MCE_EXPORT int32_t mce_model_n_vocab(const llama_model * model) {
    return llama_vocab_n_tokens(llama_model_get_vocab(model));
}
MCE_EXPORT int32_t mce_model_n_embd(const llama_model * model) { return llama_model_n_embd(model); }
MCE_EXPORT int32_t mce_model_n_ctx_train(const llama_model * model) { return llama_model_n_ctx_train(model); }
MCE_EXPORT double mce_model_size(const llama_model * model) { return (double) llama_model_size(model); }

// Metadata value as a string; returns its length, or -1 when the key is absent.
MCE_EXPORT int32_t mce_model_meta(const llama_model * model, const char * key, char * buf, int32_t size) {
    return llama_model_meta_val_str(model, key, buf, (size_t) size);
}

MCE_EXPORT int32_t mce_token_is_eog(const llama_model * model, llama_token token) {
    return llama_vocab_is_eog(llama_model_get_vocab(model), token) ? 1 : 0;
}

// Every token's bytes (special tokens rendered) in one call: pieces are packed into buf,
// offsets[i]..offsets[i+1] delimit token i, attrs[i] is its llama_token_attr.
// Returns the bytes needed; when that exceeds cap nothing is written to buf.
MCE_EXPORT int32_t mce_vocab_dump(const llama_model * model, char * buf, int32_t cap, uint32_t * offsets,
                                  int32_t * attrs) {
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int32_t n = llama_vocab_n_tokens(vocab);
    char piece[512];
    int64_t total = 0;
    for (int32_t t = 0; t < n; t++) {
        const int32_t len = llama_token_to_piece(vocab, t, piece, sizeof piece, 0, true);
        const int32_t k = len < 0 ? 0 : len; // pieces longer than 512 bytes do not occur in BPE vocabularies
        if (buf && total + k <= cap) std::memcpy(buf + total, piece, k);
        if (offsets) offsets[t] = (uint32_t) total;
        if (attrs) attrs[t] = (int32_t) llama_vocab_get_attr(vocab, t);
        total += k;
    }
    if (offsets) offsets[n] = (uint32_t) total;
    return (int32_t) total;
}

// ---- tokens ----------------------------------------------------------------

// Returns the number of tokens, or -(needed) when out is too small.
MCE_EXPORT int32_t mce_tokenize(const llama_model * model, const char * text, int32_t len,
                                llama_token * out, int32_t capacity, int32_t add_special, int32_t parse_special) {
    return llama_tokenize(llama_model_get_vocab(model), text, len, out, capacity, add_special != 0, parse_special != 0);
}

// ---- context ---------------------------------------------------------------

MCE_EXPORT mce_context * mce_context_new(llama_model * model, int32_t n_ctx, int32_t n_batch, int32_t n_ubatch,
                                         int32_t n_seq_max, int32_t n_threads) {
    g_last_error.clear();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = (uint32_t) n_batch;
    cp.n_ubatch = (uint32_t) n_ubatch;
    cp.n_seq_max = (uint32_t) n_seq_max;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    cp.kv_unified = false;
    llama_context * ctx = nullptr;
    try {
        ctx = llama_init_from_model(model, cp);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
    }
    if (!ctx) {
        if (g_last_error.empty()) set_error("failed to create context");
        return nullptr;
    }
    // A persistent pool: without it ggml creates and joins threads on every graph.
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
    ggml_threadpool * pool = n_threads > 1 ? ggml_threadpool_new(&tpp) : nullptr;
    if (pool) llama_attach_threadpool(ctx, pool, pool);
    auto * c = new mce_context{ctx, pool, llama_batch_init(n_batch, 0, 1), n_batch};
    return c;
}

MCE_EXPORT void mce_context_free(mce_context * c) {
    if (!c) return;
    llama_batch_free(c->batch);
    llama_free(c->ctx);
    if (c->pool) ggml_threadpool_free(c->pool);
    delete c;
}

MCE_EXPORT int32_t mce_context_n_ctx(const mce_context * c) { return (int32_t) llama_n_ctx(c->ctx); }
// Positions one sequence may use: each sequence has its own KV stream (kv_unified = false), so
// a sequence's attention never depends on where other sequences' cells are.
MCE_EXPORT int32_t mce_context_n_ctx_seq(const mce_context * c) { return (int32_t) llama_n_ctx_seq(c->ctx); }

// Decode n tokens; token i goes to seq_ids[i] at pos[i]; logits[i] != 0 requests its logits.
// Returns llama_decode's code (0 ok, 1 no KV slot, 2 aborted, <0 error).
MCE_EXPORT int32_t mce_decode(mce_context * c, int32_t n, const llama_token * tokens, const llama_pos * pos,
                              const llama_seq_id * seq_ids, const int8_t * logits) {
    if (n <= 0 || n > c->batch_capacity) {
        set_error("batch of %d tokens exceeds n_batch %d", n, c->batch_capacity);
        return -1;
    }
    llama_batch & b = c->batch;
    b.n_tokens = n;
    for (int32_t i = 0; i < n; i++) {
        b.token[i] = tokens[i];
        b.pos[i] = pos[i];
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = seq_ids[i];
        b.logits[i] = logits[i];
    }
    try {
        return llama_decode(c->ctx, b);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return -2;
    }
}

// Decode n embedding vectors (n x n_embd floats) of one sequence at positions pos[i];
// used for image embeddings. Logits only for the last one when want_last_logits.
MCE_EXPORT int32_t mce_decode_embd(mce_context * c, int32_t n, const float * embd, const llama_pos * pos,
                                   llama_seq_id seq_id, int32_t want_last_logits) {
    std::vector<llama_seq_id *> seq_ptrs(n);
    std::vector<int32_t> n_seq(n, 1);
    std::vector<int8_t> logits(n, 0);
    if (want_last_logits && n > 0) logits[n - 1] = 1;
    for (int32_t i = 0; i < n; i++) seq_ptrs[i] = &seq_id;
    // M-RoPE models (qwen35) read one position per rope section for embedding batches
    // (llama-batch.cpp: pos[section * n + i]); MiniCPM-V 4.6 uses the same sequential position
    // in every section. Models with one section read only the first n.
    constexpr int max_sections = 4;
    std::vector<llama_pos> pos_sections((size_t) n * max_sections);
    for (int s = 0; s < max_sections; s++) std::copy(pos, pos + n, pos_sections.begin() + (size_t) s * n);
    llama_batch b = {};
    b.n_tokens = n;
    b.embd = const_cast<float *>(embd);
    b.pos = pos_sections.data();
    b.n_seq_id = n_seq.data();
    b.seq_id = seq_ptrs.data();
    b.logits = logits.data();
    try {
        return llama_decode(c->ctx, b);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return -2;
    }
}

// Logits of the i-th output of the last decode (i as in the batch), or NULL.
MCE_EXPORT float * mce_logits(mce_context * c, int32_t i) { return llama_get_logits_ith(c->ctx, i); }

MCE_EXPORT void mce_memory_clear(mce_context * c) { llama_memory_clear(llama_get_memory(c->ctx), true); }

MCE_EXPORT int32_t mce_seq_rm(mce_context * c, llama_seq_id seq, llama_pos p0, llama_pos p1) {
    return llama_memory_seq_rm(llama_get_memory(c->ctx), seq, p0, p1) ? 1 : 0;
}

// The last position a sequence holds (-1 when empty); for a hybrid model, the lower of its
// attention and recurrent parts.
MCE_EXPORT int32_t mce_seq_pos_max(mce_context * c, llama_seq_id seq) {
    return llama_memory_seq_pos_max(llama_get_memory(c->ctx), seq);
}

// 0: attention only (seq_rm trims any suffix); 1: recurrent; 2: hybrid (attention + recurrent
// layers: the recurrent state cannot be trimmed, only saved and restored).
MCE_EXPORT int32_t mce_model_memory_kind(const llama_model * model) {
    return llama_model_is_hybrid(model) ? 2 : llama_model_is_recurrent(model) ? 1 : 0;
}

// A sequence's state (llama_state_seq_*_ext): flags 0 = everything (attention cells and recurrent
// state), 1 = LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY (the recurrent state alone). Sizes in bytes; 0 on failure.
MCE_EXPORT size_t mce_state_seq_size(mce_context * c, llama_seq_id seq, uint32_t flags) {
    return llama_state_seq_get_size_ext(c->ctx, seq, flags);
}

MCE_EXPORT size_t mce_state_seq_get(mce_context * c, llama_seq_id seq, uint8_t * dst, size_t size, uint32_t flags) {
    g_last_error.clear();
    return llama_state_seq_get_data_ext(c->ctx, dst, size, seq, flags);
}

// Replaces what the state covers (with flags 1 only the recurrent part; attention cells stay).
MCE_EXPORT size_t mce_state_seq_set(mce_context * c, llama_seq_id seq, const uint8_t * src, size_t size,
                                    uint32_t flags) {
    g_last_error.clear();
    try {
        return llama_state_seq_set_data_ext(c->ctx, src, size, seq, flags);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return 0;
    }
}

// ---- sampling --------------------------------------------------------------

// A sampler chain in llama.cpp's usual order (penalties, top_k, top_p, min_p, temp, dist; or
// greedy when temp <= 0) and an optional grammar, checked the way llama.cpp's common sampler does:
// sample without it, and only when the grammar rejects that token apply it to the whole
// vocabulary and sample again (the grammar costs one token check per step, not one per token
// of the vocabulary). With trigger_token >= 0 the grammar is lazy: it applies from that token on.
struct mce_sampler {
    llama_sampler * chain;
    llama_sampler * grammar; // may be null
    std::vector<llama_token_data> cur;
};

// Returns NULL on a bad grammar.
MCE_EXPORT mce_sampler * mce_sampler_new(const llama_model * model, float temp, int32_t top_k, float top_p,
                                         float min_p, int32_t penalty_last_n, float penalty_repeat,
                                         float penalty_freq, float penalty_present, uint32_t seed,
                                         const char * grammar, const char * grammar_root, int32_t trigger_token) {
    g_last_error.clear();
    const llama_vocab * vocab = llama_model_get_vocab(model);
    llama_sampler * g = nullptr;
    if (grammar && grammar[0]) {
        try {
            const char * root = grammar_root && grammar_root[0] ? grammar_root : "root";
            g = trigger_token >= 0
                ? llama_sampler_init_grammar_lazy_patterns(vocab, grammar, root, nullptr, 0, &trigger_token, 1)
                : llama_sampler_init_grammar(vocab, grammar, root);
        } catch (const std::exception & e) {
            set_error("%s", e.what());
        }
        if (!g) {
            if (g_last_error.empty()) set_error("invalid grammar");
            return nullptr;
        }
    }
    llama_sampler * chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (penalty_last_n != 0 && (penalty_repeat != 1.0f || penalty_freq != 0.0f || penalty_present != 0.0f)) {
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), penalty_last_n,
                                                                    penalty_repeat, penalty_freq, penalty_present));
    }
    if (temp <= 0.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    } else {
        if (top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(top_k));
        if (top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(top_p, 1));
        if (min_p > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(min_p, 1));
        llama_sampler_chain_add(chain, llama_sampler_init_temp(temp));
        llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
    }
    return new mce_sampler{chain, g, {}};
}

// Sample from output i of the last decode; the chosen token is also accepted (penalties, grammar).
MCE_EXPORT llama_token mce_sampler_sample(mce_sampler * s, mce_context * c, int32_t i) {
    try {
        const float * logits = llama_get_logits_ith(c->ctx, i);
        const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(c->ctx)));
        auto fill = [&]() -> llama_token_data_array {
            s->cur.resize(n_vocab);
            for (int t = 0; t < n_vocab; t++) s->cur[t] = {t, logits[t], 0.0f};
            return {s->cur.data(), s->cur.size(), -1, false};
        };
        llama_token_data_array cur = fill();
        llama_sampler_apply(s->chain, &cur);
        llama_token id = cur.data[cur.selected].id;
        if (s->grammar) {
            llama_token_data single = {id, 1.0f, 0.0f};
            llama_token_data_array one = {&single, 1, -1, false};
            llama_sampler_apply(s->grammar, &one);
            if (one.data[0].logit == -INFINITY) {
                cur = fill();
                llama_sampler_apply(s->grammar, &cur);
                llama_sampler_apply(s->chain, &cur);
                id = cur.data[cur.selected].id;
            }
            llama_sampler_accept(s->grammar, id);
        }
        llama_sampler_accept(s->chain, id);
        return id;
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return -1;
    }
}

MCE_EXPORT void mce_sampler_free(mce_sampler * s) {
    if (!s) return;
    llama_sampler_free(s->chain);
    if (s->grammar) llama_sampler_free(s->grammar);
    delete s;
}

// ---- vision (mmproj) ---------------------------------------------------------
// The TS pipeline slices, resizes and normalises; here one preprocessed tile is encoded.

struct mce_vision {
    clip_ctx * ctx;
    int file_merge; // n_merge written in the file: 4 = 16x (has the vit_merger), 2 = 4x
};

MCE_EXPORT mce_vision * mce_vision_load(const char * path) {
    g_last_error.clear();
    clip_context_params p = {};
    p.use_gpu = false;
    p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_AUTO;
    p.image_min_tokens = -1;
    p.image_max_tokens = -1;
    p.warmup = false;
    clip_init_result r = {};
    try {
        r = clip_init(path, p);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
    }
    if (!r.ctx_v) {
        if (r.ctx_a) clip_free(r.ctx_a);
        if (g_last_error.empty()) set_error("failed to load mmproj");
        return nullptr;
    }
    return new mce_vision{r.ctx_v, clip_get_hparams(r.ctx_v)->n_merge};
}

MCE_EXPORT void mce_vision_free(mce_vision * v) {
    if (!v) return;
    clip_free(v->ctx);
    delete v;
}

MCE_EXPORT int32_t mce_vision_n_embd(const mce_vision * v) { return clip_n_mmproj_embd(v->ctx); }
MCE_EXPORT int32_t mce_vision_file_merge(const mce_vision * v) { return v->file_merge; }

// Encodes one tile: rgb is h x w x 3 normalised floats (row-major, interleaved).
// merge: 4 = 16x, 2 = 4x (same weights; 16x needs the vit_merger, i.e. a 16x file).
// Writes n_tokens x n_embd floats to out; returns n_tokens, or -1 with mce_last_error set.
MCE_EXPORT int32_t mce_vision_encode(mce_vision * v, int32_t n_threads, int32_t merge, int32_t w, int32_t h,
                                     const float * rgb, float * out, int32_t out_capacity) {
    g_last_error.clear();
    if (merge != 2 && merge != 4) { set_error("merge must be 2 (4x) or 4 (16x)"); return -1; }
    if (merge == 4 && v->file_merge != 4) { set_error("this mmproj is 4x-only: it has no vit_merger for 16x"); return -1; }
    const int patch = clip_get_hparams(v->ctx)->patch_size;
    if (w <= 0 || h <= 0 || w % (patch * merge) || h % (patch * merge)) {
        set_error("tile %dx%d is not a multiple of %d", w, h, patch * merge);
        return -1;
    }
    const_cast<clip_hparams *>(clip_get_hparams(v->ctx))->n_merge = merge;
    clip_image_f32 img;
    img.set_size({w, h}, false, false);
    img.cpy_buf(std::vector<float>(rgb, rgb + (size_t) w * h * 3));
    const int n_tokens = clip_n_output_tokens(v->ctx, &img);
    const int n_embd = clip_n_mmproj_embd(v->ctx);
    if ((int64_t) n_tokens * n_embd > out_capacity) { set_error("output buffer too small"); return -1; }
    std::vector<float> embd((size_t) n_tokens * n_embd); // clip_encode copies only into a sized buffer
    bool ok = false;
    try {
        ok = clip_image_encode(v->ctx, n_threads, &img, embd);
    } catch (const std::exception & e) {
        set_error("%s", e.what());
    }
    if (!ok) {
        if (g_last_error.empty()) set_error("vision encode failed");
        return -1;
    }
    std::memcpy(out, embd.data(), sizeof(float) * embd.size());
    return n_tokens;
}

// ---- tests -----------------------------------------------------------------

// Traps on purpose: lets tests check that a fault inside the engine stays inside its worker.
MCE_EXPORT void mce_debug_trap() { __builtin_trap(); }

// llama.cpp's own JSON-schema -> GBNF converter (what llama-server uses for response_format).
// Returns the grammar, or NULL with the reason in mce_last_error. Valid until the next call.
MCE_EXPORT const char * mce_json_schema_to_grammar(const char * schema_json) {
    static std::string out;
    g_last_error.clear();
    try {
        out = json_schema_to_grammar(common_json::parse(schema_json));
        return out.c_str();
    } catch (const std::exception & e) {
        set_error("%s", e.what());
        return nullptr;
    }
}
