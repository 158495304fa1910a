#!/usr/bin/env bash
# Writes the test videos for the video decoder (tests/video-decode.test.ts) into the build
# cache, keyed by this script and the encoder's version, and prints the directory. Made with
# Debian's `ffmpeg` CLI (a test-only dependency, also the oracle the tests compare against):
# every codec and container the decoder supports (H.264 in several profiles, HEVC, VP8, VP9; MP4,
# MOV, WebM, a WebM without cues as browsers record it), a long low-resolution clip, codecs it does
# not support and audio-only files; plus tools/mtmd/test-3.mp4 from the pinned llama.cpp source.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
ensure_llama_source
KEY="$(cd "$ROOT" && hash_inputs scripts/test-media.sh "$(ffmpeg -version | sed -n 1p)")"
OUT="$CACHE_DIR/test-media-$KEY"

# Usage: clip NAME SIZE RATE SECONDS [ffmpeg output options...]; a moving test pattern
clip() {
  local name=$1 size=$2 rate=$3 seconds=$4
  shift 4
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$size:rate=$rate:duration=$seconds" "$@" "$OUT/tmp/$name"
}
# the same with a sine tone as a second stream
clip_with_audio() {
  local name=$1 size=$2 rate=$3 seconds=$4
  shift 4
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$size:rate=$rate:duration=$seconds" \
    -f lavfi -i "sine=frequency=440:duration=$seconds" "$@" "$OUT/tmp/$name"
}
audio_only() {
  ffmpeg -nostdin -v error -y -f lavfi -i "sine=frequency=440:duration=2" "${@:2}" "$OUT/tmp/$1"
}

if [ ! -f "$OUT/.done" ]; then
  log "writing test videos to $OUT"
  rm -rf "$OUT" && mkdir -p "$OUT/tmp"
  x264=(-c:v libx264 -preset veryfast -threads 1)
  # B-frames (High), keyframes every 2 s, AAC audio beside the video, moov at the end
  clip_with_audio h264-high.mp4 320x240 30 6 "${x264[@]}" -profile:v high -pix_fmt yuv420p -g 60 -bf 3 -c:a aac
  # no B-frames; moov first
  clip h264-baseline.mp4 352x288 25 5 "${x264[@]}" -profile:v baseline -pix_fmt yuv420p -g 50 -movflags +faststart
  clip h264-high10.mp4 320x240 24 3 "${x264[@]}" -profile:v high10 -pix_fmt yuv420p10le -g 24
  clip h264-high444.mp4 320x240 24 3 "${x264[@]}" -profile:v high444 -pix_fmt yuv444p -g 24
  # NTSC rate, BT.709 tags (the conversion must use the BT.709 matrix), QuickTime container
  clip h264-bt709.mov 640x360 30000/1001 4 "${x264[@]}" -profile:v main -pix_fmt yuv420p -g 48 \
    -colorspace bt709 -color_primaries bt709 -color_trc bt709 -f mov
  clip hevc.mp4 320x240 25 3 -c:v libx265 -preset veryfast -pix_fmt yuv420p -tag:v hvc1 \
    -x265-params log-level=error:keyint=30:pools=1:frame-threads=1
  clip_with_audio vp8.webm 320x180 24 5 -c:v libvpx -b:v 400k -g 48 -threads 1 -c:a libopus
  # odd frame size; libvpx's hidden alt-ref frames (superframes)
  clip vp9.webm 160x90 30 5 -vf scale=161:91 -c:v libvpx-vp9 -b:v 200k -g 50 -cpu-used 4 -threads 1
  # no cues, no duration in the header (how browsers' MediaRecorder writes WebM)
  clip vp8-live.webm 320x240 15 4 -c:v libvpx -b:v 300k -g 30 -threads 1 -live 1 -f webm
  # 200 s at 10 fps: a long video (more seconds than the default max_num_frames, 128)
  clip long.mp4 64x48 10 200 "${x264[@]}" -pix_fmt yuv420p -g 250
  # codecs the decoder does not have, and files without video
  clip mpeg4.mp4 160x120 10 1 -c:v mpeg4
  clip mjpeg.mkv 160x120 10 1 -c:v mjpeg
  audio_only audio.m4a -c:a aac
  audio_only audio.webm -c:a libopus
  cp "$LLAMA_SRC/tools/mtmd/test-3.mp4" "$OUT/tmp/"
  mv "$OUT"/tmp/* "$OUT/" && rmdir "$OUT/tmp"
  touch "$OUT/.done"
fi
touch "$OUT"
prune_cache "test-media-????????????????" 2
echo "$OUT"
