// minicpmv-edge: a thin C ABI over the FFmpeg subset for the video decoder WASM build.
// Every function is a plain export (mce_video_*). The bytes of a video come from JS through
// one read callback (Module.mceVideoRead), so a video is never copied whole into the wasm heap.
// Which frames to decode, limits and error wording for users live in TypeScript
// (engine/ts/video/); this file only adapts types: open, frame table, decode one frame, RGB24.

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <emscripten/emscripten.h>

#define MCE_EXPORT EMSCRIPTEN_KEEPALIVE

// Error codes (mce_video_error_code); engine/ts/video/decoder-module.ts mirrors them.
enum {
  MCE_VIDEO_OK = 0,
  MCE_VIDEO_NOT_A_VIDEO = 1,       // no supported container could read the bytes
  MCE_VIDEO_NO_VIDEO_STREAM = 2,   // a container without a video stream (audio only)
  MCE_VIDEO_UNSUPPORTED_CODEC = 3, // a video stream this build has no decoder for
  MCE_VIDEO_TRUNCATED = 4,         // the data ends before the container says it does
  MCE_VIDEO_DECODE_FAILED = 5,     // a frame could not be decoded or converted
  MCE_VIDEO_OUT_OF_MEMORY = 6,
  MCE_VIDEO_TOO_MANY_FRAMES = 7,   // more packets than the caller allows
  MCE_VIDEO_TOO_LARGE = 8,         // a frame over the caller's pixel limit
  MCE_VIDEO_BAD_ARGUMENT = 9,
};

// JS side: copies up to len bytes of source `source` at byte offset pos into dst; returns the
// count (0 at the end), or -1 on a read error.
EM_JS(int, mce_video_js_read, (int source, uint8_t * dst, int len, double pos), {
  return Module["mceVideoRead"](source, dst, len, pos);
});

static int g_error_code;
static char g_error[512];
static char g_av_error[256]; // the last error FFmpeg logged, appended to messages as a detail
static int g_demux_errors;    // errors a demuxer logged so far (not a decoder's: it conceals them)

static void log_callback(void * avcl, int level, const char * fmt, va_list vl) {
  if (level > AV_LOG_ERROR) return;
  if (avcl && *(const AVClass **) avcl == avformat_get_class()) g_demux_errors++;
  vsnprintf(g_av_error, sizeof g_av_error, fmt, vl);
  size_t n = strlen(g_av_error);
  while (n > 0 && (g_av_error[n - 1] == '\n' || g_av_error[n - 1] == ' ')) g_av_error[--n] = 0;
}

static void set_error(int code, const char * fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  g_error_code = code;
}

// One entry of the frame table: a video packet, sorted by presentation time.
typedef struct {
  int64_t pts;
  int64_t dts; // AV_NOPTS_VALUE when the container has none (Matroska)
  int key;
} frame_entry;

typedef struct {
  int source;
  int64_t size;
  int64_t pos;
  AVIOContext * io;
  AVFormatContext * fmt;
  AVCodecContext * dec;
  AVStream * st;
  AVPacket * pkt;
  AVFrame * frame;
  struct SwsContext * sws;
  int64_t max_pixels;
  int errors_at_open; // g_demux_errors when opening began
  frame_entry * table;
  int n_frames;
  int64_t first_pts, end_pts; // of the scanned packets: the earliest start, the latest end
  int64_t start_ts;           // the smallest pts or dts of any packet: a seek there starts over
  int scanned;
  int truncated;
  int decoder_pos;  // index of the last frame the decoder output; -1 after a seek
  int seeks;        // seeks so far (the seeking policy is tested by it)
  int need_seek;    // the demuxer is not positioned for forward decoding (after the scan)
  int draining;     // end of packets reached, decoder flushed with a NULL packet
  uint8_t * rgb;
  size_t rgb_capacity;
  int rgb_width, rgb_height;
  char codec[32];
} mce_video;

static int io_read(void * opaque, uint8_t * buf, int buf_size) {
  mce_video * v = opaque;
  if (v->pos >= v->size) return AVERROR_EOF;
  int64_t left = v->size - v->pos;
  int len = buf_size < left ? buf_size : (int) left;
  int n = mce_video_js_read(v->source, buf, len, (double) v->pos);
  if (n < 0) return AVERROR(EIO);
  if (n == 0) return AVERROR_EOF;
  v->pos += n;
  return n;
}

static int64_t io_seek(void * opaque, int64_t offset, int whence) {
  mce_video * v = opaque;
  int64_t to;
  switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return v->size;
    case SEEK_SET: to = offset; break;
    case SEEK_CUR: to = v->pos + offset; break;
    case SEEK_END: to = v->size + offset; break;
    default: return AVERROR(EINVAL);
  }
  if (to < 0) return AVERROR(EINVAL);
  v->pos = to;
  return to;
}

static const char * container_label(const AVInputFormat * f) {
  return strcmp(f->name, "matroska,webm") == 0 ? "Matroska/WebM" : "MP4/MOV";
}

MCE_EXPORT void mce_video_init(int log_level) {
  av_log_set_level(log_level);
  av_log_set_callback(log_callback);
}

MCE_EXPORT int mce_video_error_code(void) { return g_error_code; }
MCE_EXPORT const char * mce_video_error_message(void) { return g_error; }
// What FFmpeg itself last reported (may be empty); a detail for the message above.
MCE_EXPORT const char * mce_video_error_detail(void) { return g_av_error; }

MCE_EXPORT void mce_video_close(mce_video * v) {
  if (!v) return;
  sws_freeContext(v->sws);
  av_frame_free(&v->frame);
  av_packet_free(&v->pkt);
  avcodec_free_context(&v->dec);
  avformat_close_input(&v->fmt);
  if (v->io) av_freep(&v->io->buffer);
  avio_context_free(&v->io);
  free(v->table);
  av_free(v->rgb);
  free(v);
}

// Opens the container, picks the video stream and opens its decoder. The frame table comes
// later (mce_video_scan), so the caller can check the metadata against its limits first.
MCE_EXPORT mce_video * mce_video_open(int source, double size, double max_pixels) {
  g_error_code = MCE_VIDEO_OK;
  g_error[0] = g_av_error[0] = 0;
  mce_video * v = calloc(1, sizeof *v);
  if (!v) return set_error(MCE_VIDEO_OUT_OF_MEMORY, "out of memory"), NULL;
  v->source = source;
  v->errors_at_open = g_demux_errors;
  v->size = (int64_t) size;
  v->max_pixels = (int64_t) max_pixels;
  v->decoder_pos = -1;
  v->need_seek = 1;

  const int io_size = 1 << 16;
  uint8_t * io_buf = av_malloc(io_size);
  v->io = io_buf ? avio_alloc_context(io_buf, io_size, 0, v, io_read, NULL, io_seek) : NULL;
  v->fmt = avformat_alloc_context();
  v->pkt = av_packet_alloc();
  v->frame = av_frame_alloc();
  if (!v->io || !v->fmt || !v->pkt || !v->frame) {
    if (!v->io) av_free(io_buf);
    set_error(MCE_VIDEO_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  v->fmt->pb = v->io;
  v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  // which container, from the first bytes; then a container that cannot be opened is damaged
  // or cut short (an MP4 whose index sits at the end), not something else
  const AVInputFormat * input = NULL;
  if (av_probe_input_buffer2(v->io, &input, "", NULL, 0, 0) < 0 || !input) {
    set_error(MCE_VIDEO_NOT_A_VIDEO, "not a video: no MP4/MOV or Matroska/WebM container found");
    goto fail;
  }
  if (avformat_open_input(&v->fmt, NULL, input, NULL) < 0) { // frees fmt on failure
    set_error(MCE_VIDEO_TRUNCATED, "the %s file cannot be read: truncated or damaged", container_label(input));
    goto fail;
  }
  if (avformat_find_stream_info(v->fmt, NULL) < 0) {
    set_error(MCE_VIDEO_TRUNCATED, "the %s file cannot be read: truncated or damaged", container_label(input));
    goto fail;
  }

  int best = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
  if (best >= 0 && (v->fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC)) best = -1;
  for (unsigned i = 0; best < 0 && i < v->fmt->nb_streams; i++) {
    AVStream * s = v->fmt->streams[i];
    if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) best = i;
  }
  if (best < 0) {
    set_error(MCE_VIDEO_NO_VIDEO_STREAM, "no video stream");
    goto fail;
  }
  v->st = v->fmt->streams[best];
  for (unsigned i = 0; i < v->fmt->nb_streams; i++) {
    if ((int) i != best) v->fmt->streams[i]->discard = AVDISCARD_ALL;
  }
  AVCodecParameters * par = v->st->codecpar;
  if (par->codec_id == AV_CODEC_ID_NONE && par->codec_tag) { // a codec FFmpeg does not know: its fourcc
    char tag[AV_FOURCC_MAX_STRING_SIZE];
    snprintf(v->codec, sizeof v->codec, "%s", av_fourcc_make_string(tag, par->codec_tag));
  } else {
    snprintf(v->codec, sizeof v->codec, "%s", avcodec_get_name(par->codec_id));
  }
  const AVCodec * codec = avcodec_find_decoder(par->codec_id);
  if (!codec) {
    set_error(MCE_VIDEO_UNSUPPORTED_CODEC, "unsupported codec %s", v->codec);
    goto fail;
  }
  if (par->width <= 0 || par->height <= 0) {
    set_error(MCE_VIDEO_NOT_A_VIDEO, "not a video: the %s stream has no frame size", v->codec);
    goto fail;
  }
  if ((int64_t) par->width * par->height > v->max_pixels) {
    set_error(MCE_VIDEO_TOO_LARGE, "%dx%d frames are over the limit of %lld pixels", par->width, par->height,
      (long long) v->max_pixels);
    goto fail;
  }
  v->dec = avcodec_alloc_context3(codec);
  if (!v->dec || avcodec_parameters_to_context(v->dec, par) < 0) {
    set_error(MCE_VIDEO_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  v->dec->pkt_timebase = v->st->time_base;
  v->dec->max_pixels = v->max_pixels; // the decoder refuses larger frames (bounded memory)
  v->dec->thread_count = 1;
  if (avcodec_open2(v->dec, codec, NULL) < 0) {
    set_error(MCE_VIDEO_DECODE_FAILED, "cannot open the %s decoder", v->codec);
    goto fail;
  }
  return v;
fail:
  mce_video_close(v);
  return NULL;
}

// ---- metadata ----------------------------------------------------------------------------

// Container duration in seconds as libavformat computes it (what PyAV's container.duration
// reports, in seconds); the stream's when the container has none; -1 when unknown.
MCE_EXPORT double mce_video_duration(mce_video * v) {
  if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0) return v->fmt->duration / (double) AV_TIME_BASE;
  if (v->st->duration != AV_NOPTS_VALUE && v->st->duration > 0) return v->st->duration * av_q2d(v->st->time_base);
  return -1;
}
// The stream's own duration in seconds, -1 when unknown.
MCE_EXPORT double mce_video_stream_duration(mce_video * v) {
  if (v->st->duration == AV_NOPTS_VALUE || v->st->duration <= 0) return -1;
  return v->st->duration * av_q2d(v->st->time_base);
}
// avg_frame_rate (PyAV's stream.average_rate): numerator and denominator; 0/0 when unknown.
MCE_EXPORT int mce_video_fps_num(mce_video * v) { return v->st->avg_frame_rate.num; }
MCE_EXPORT int mce_video_fps_den(mce_video * v) { return v->st->avg_frame_rate.den; }
// The frame count the container header claims (0 when it has none, as in WebM).
MCE_EXPORT double mce_video_header_frames(mce_video * v) { return (double) v->st->nb_frames; }
MCE_EXPORT int mce_video_width(mce_video * v) { return v->st->codecpar->width; }
MCE_EXPORT int mce_video_height(mce_video * v) { return v->st->codecpar->height; }
MCE_EXPORT const char * mce_video_codec(mce_video * v) { return v->codec; }
MCE_EXPORT const char * mce_video_container(mce_video * v) { return v->fmt->iformat->name; }

// ---- frame table -------------------------------------------------------------------------

static int by_pts(const void * a, const void * b) {
  const frame_entry * x = a, * y = b;
  return x->pts < y->pts ? -1 : x->pts > y->pts ? 1 : 0;
}

// Reads every packet of the video stream (no decoding) into the frame table, sorted by
// presentation time: frame i is the i-th packet in presentation order. Returns the frame
// count, or -1 (error code set).
MCE_EXPORT int mce_video_scan(mce_video * v, int max_frames) {
  if (v->scanned) return v->n_frames;
  int capacity = 0;
  int64_t n_read = 0; // packets of the stream, including those an edit list discards
  int ret;
  while ((ret = av_read_frame(v->fmt, v->pkt)) >= 0) {
    if (v->pkt->stream_index == v->st->index) n_read++;
    if (v->pkt->stream_index == v->st->index && !(v->pkt->flags & AV_PKT_FLAG_DISCARD)) {
      if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) v->truncated = 1;
      int64_t pts = v->pkt->pts != AV_NOPTS_VALUE ? v->pkt->pts : v->pkt->dts;
      if (pts != AV_NOPTS_VALUE) {
        if (v->n_frames == max_frames) {
          av_packet_unref(v->pkt);
          set_error(MCE_VIDEO_TOO_MANY_FRAMES, "more than %d frames", max_frames);
          return -1;
        }
        if (v->n_frames == capacity) {
          capacity = capacity ? 2 * capacity : 1024;
          if (capacity > max_frames) capacity = max_frames;
          frame_entry * t = realloc(v->table, (size_t) capacity * sizeof *t);
          if (!t) {
            av_packet_unref(v->pkt);
            set_error(MCE_VIDEO_OUT_OF_MEMORY, "out of memory");
            return -1;
          }
          v->table = t;
        }
        v->table[v->n_frames++] = (frame_entry) { pts, v->pkt->dts, !!(v->pkt->flags & AV_PKT_FLAG_KEY) };
        int64_t end = pts + (v->pkt->duration > 0 ? v->pkt->duration : 0);
        if (v->n_frames == 1 || pts < v->first_pts) v->first_pts = pts;
        if (v->n_frames == 1 || end > v->end_pts) v->end_pts = end;
        int64_t start = v->pkt->dts != AV_NOPTS_VALUE && v->pkt->dts < pts ? v->pkt->dts : pts;
        if (v->n_frames == 1 || start < v->start_ts) v->start_ts = start;
      }
    }
    av_packet_unref(v->pkt);
  }
  if (ret != AVERROR_EOF) v->truncated = 1; // a read error before the container's end
  // since opening, the demuxer saw the data end inside an element ("File ended prematurely" in
  // WebM, which then reports a plain end of file) or other damage
  if (g_demux_errors != v->errors_at_open) v->truncated = 1;
  // a header frame count (MP4) larger than what could be read: the file was cut short
  if (v->st->nb_frames > 0 && n_read < v->st->nb_frames) v->truncated = 1;
  qsort(v->table, v->n_frames, sizeof *v->table, by_pts);
  v->scanned = 1;
  v->need_seek = 1;
  return v->n_frames;
}

// 1 when the data ended early, a packet was cut or the demuxer reported damage (the table holds
// what could be read; mce_video_error_detail says what FFmpeg reported).
MCE_EXPORT int mce_video_truncated(mce_video * v) { return v->truncated; }
MCE_EXPORT int mce_video_frame_count(mce_video * v) { return v->n_frames; }
// Seconds from the first scanned frame's start to the last one's end (0 before a scan).
MCE_EXPORT double mce_video_scanned_duration(mce_video * v) {
  return v->n_frames ? (v->end_pts - v->first_pts) * av_q2d(v->st->time_base) : 0;
}
MCE_EXPORT int mce_video_keyframe_count(mce_video * v) {
  int n = 0;
  for (int i = 0; i < v->n_frames; i++) n += v->table[i].key;
  return n;
}
MCE_EXPORT int mce_video_is_keyframe(mce_video * v, int index) {
  return index >= 0 && index < v->n_frames && v->table[index].key;
}

// The table index of a presentation time: exact match, else the last entry before it.
static int index_of_pts(mce_video * v, int64_t pts) {
  int lo = 0, hi = v->n_frames - 1, found = -1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (v->table[mid].pts <= pts) found = mid, lo = mid + 1;
    else hi = mid - 1;
  }
  return found;
}

// The keyframe decoding has to start from to reach frame `index`.
static int keyframe_before(mce_video * v, int index) {
  while (index > 0 && !v->table[index].key) index--;
  return index;
}

static int seek_to(mce_video * v, int keyframe) {
  const frame_entry * e = &v->table[keyframe];
  // MP4 indexes by decode time, Matroska by presentation time: the smaller of the two lands
  // on this keyframe or an earlier one, never a later one
  int64_t ts = e->dts != AV_NOPTS_VALUE && e->dts < e->pts ? e->dts : e->pts;
  if (keyframe == 0) ts = v->start_ts;
  int ret = av_seek_frame(v->fmt, v->st->index, ts, AVSEEK_FLAG_BACKWARD);
  if (ret < 0 && keyframe > 0) ret = av_seek_frame(v->fmt, v->st->index, v->start_ts, AVSEEK_FLAG_BACKWARD);
  if (ret < 0) return ret;
  avcodec_flush_buffers(v->dec);
  v->seeks++;
  v->decoder_pos = -1;
  v->need_seek = 0;
  v->draining = 0;
  return 0;
}

static int convert(mce_video * v, const AVFrame * f) {
  if ((int64_t) f->width * f->height > v->max_pixels) {
    set_error(MCE_VIDEO_TOO_LARGE, "a %dx%d frame is over the limit of %lld pixels", f->width, f->height,
      (long long) v->max_pixels);
    return -1;
  }
  size_t need = (size_t) f->width * f->height * 3;
  if (need > v->rgb_capacity) {
    av_free(v->rgb);
    v->rgb = av_malloc(need);
    v->rgb_capacity = v->rgb ? need : 0;
    if (!v->rgb) return set_error(MCE_VIDEO_OUT_OF_MEMORY, "out of memory"), -1;
  }
  // Same size, so only the chroma is resampled: nearest (each chroma sample covers its 2x2
  // pixels, as in the unscaled YUV->RGB path PyAV and decord take by default), with exact
  // rounding per pixel. Unlike interpolation, this gives the same bytes in every FFmpeg version
  // and on every CPU (tests/video-decode.test.ts: identical to Debian's ffmpeg 5.1 on x86).
  int flags = SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
  v->sws = sws_getCachedContext(v->sws, f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
    flags, NULL, NULL, NULL);
  if (!v->sws) {
    set_error(MCE_VIDEO_DECODE_FAILED, "cannot convert %s frames to RGB", av_get_pix_fmt_name(f->format));
    return -1;
  }
  // the matrix and range the stream declares (BT.601 when it declares none), to full-range RGB
  int space = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : f->colorspace;
  sws_setColorspaceDetails(v->sws, sws_getCoefficients(space), f->color_range == AVCOL_RANGE_JPEG,
    sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  uint8_t * dst[4] = { v->rgb, NULL, NULL, NULL };
  int dst_stride[4] = { f->width * 3, 0, 0, 0 };
  if (sws_scale(v->sws, (const uint8_t * const *) f->data, f->linesize, 0, f->height, dst, dst_stride) != f->height) {
    set_error(MCE_VIDEO_DECODE_FAILED, "RGB conversion failed");
    return -1;
  }
  v->rgb_width = f->width;
  v->rgb_height = f->height;
  return 0;
}

// Decodes frame `index` (presentation order) into the RGB24 buffer (mce_video_rgb). Decoding
// continues forward from the decoder's position; it seeks only when the target's keyframe lies
// beyond the next frame, or the target is behind the position. Returns 0, or -1 (error code set).
MCE_EXPORT int mce_video_decode(mce_video * v, int index) {
  g_error_code = MCE_VIDEO_OK;
  g_error[0] = g_av_error[0] = 0;
  if (!v->scanned || index < 0 || index >= v->n_frames) {
    set_error(MCE_VIDEO_BAD_ARGUMENT, "frame %d is not in the video (%d frames)", index, v->n_frames);
    return -1;
  }
  int keyframe = keyframe_before(v, index);
  int retried = 0;
  // (a keyframe right after the position saves nothing: decoding simply goes on into it)
  if (v->need_seek || index <= v->decoder_pos || keyframe > v->decoder_pos + 1) {
    if (seek_to(v, keyframe) < 0) {
      set_error(MCE_VIDEO_DECODE_FAILED, "cannot seek to frame %d", keyframe);
      return -1;
    }
  }
  for (;;) {
    int ret = avcodec_receive_frame(v->dec, v->frame);
    if (ret == 0) {
      int64_t pts = v->frame->pts != AV_NOPTS_VALUE ? v->frame->pts : v->frame->best_effort_timestamp;
      int at = pts == AV_NOPTS_VALUE ? v->decoder_pos + 1 : index_of_pts(v, pts);
      if (at < 0) at = 0;
      if (at > index && v->decoder_pos < index) {
        // the target was skipped (its frame lost, or the seek landed past it): start over from
        // the beginning once, then give up
        av_frame_unref(v->frame);
        if (retried++ || seek_to(v, 0) < 0) {
          set_error(MCE_VIDEO_DECODE_FAILED, "frame %d could not be decoded", index);
          return -1;
        }
        continue;
      }
      v->decoder_pos = at;
      if (at == index) {
        ret = convert(v, v->frame);
        av_frame_unref(v->frame);
        return ret;
      }
      av_frame_unref(v->frame);
      continue;
    }
    if (ret == AVERROR_EOF) {
      set_error(v->truncated ? MCE_VIDEO_TRUNCATED : MCE_VIDEO_DECODE_FAILED, "frame %d could not be decoded%s", index,
        v->truncated ? ": the file is truncated" : "");
      v->need_seek = 1;
      return -1;
    }
    if (ret != AVERROR(EAGAIN)) {
      set_error(MCE_VIDEO_DECODE_FAILED, "decoding failed before frame %d", index);
      v->need_seek = 1;
      return -1;
    }
    if (v->draining) { // cannot happen: a draining decoder returns frames or EOF
      set_error(MCE_VIDEO_DECODE_FAILED, "decoder stalled before frame %d", index);
      return -1;
    }
    ret = av_read_frame(v->fmt, v->pkt);
    if (ret < 0) {
      avcodec_send_packet(v->dec, NULL); // end of data: flush the frames the decoder holds
      v->draining = 1;
      continue;
    }
    if (v->pkt->stream_index == v->st->index) {
      // invalid data in one packet is not fatal: the decoder conceals it, as ffmpeg does
      avcodec_send_packet(v->dec, v->pkt);
    }
    av_packet_unref(v->pkt);
  }
}

MCE_EXPORT int mce_video_seek_count(mce_video * v) { return v->seeks; }
MCE_EXPORT uint8_t * mce_video_rgb(mce_video * v) { return v->rgb; }
MCE_EXPORT int mce_video_rgb_width(mce_video * v) { return v->rgb_width; }
MCE_EXPORT int mce_video_rgb_height(mce_video * v) { return v->rgb_height; }
