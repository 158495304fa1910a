/**
 * An emscripten file-system mount whose files are read on demand from the host (a local file
 * or a Blob) straight into the wasm heap, so a model is never held as one JS buffer.
 * Modelled on emscripten's WORKERFS, with a synchronous reader per file.
 */

import type { SyncReader } from "../platform/index.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ENOENT = 44;
const EPERM = 63;
const EIO = 29;
const EINVAL = 28;
const SEEK_CUR = 1;
const SEEK_END = 2;

export function createSourceFs(FS: Any) {
  const DIR_MODE = S_IFDIR | 0o555;
  const FILE_MODE = S_IFREG | 0o444;
  const fs: Any = {
    mount(mount: Any) {
      const root = fs.createNode(null, "/", DIR_MODE);
      for (const [name, reader] of Object.entries(mount.opts.files as Record<string, SyncReader>)) {
        fs.createNode(root, name, FILE_MODE, reader);
      }
      return root;
    },
    createNode(parent: Any, name: string, mode: number, reader?: SyncReader) {
      const fsNode = FS.createNode(parent, name, mode);
      fsNode.mode = mode;
      fsNode.node_ops = fs.node_ops;
      fsNode.stream_ops = fs.stream_ops;
      fsNode.timestamp = Date.now();
      fsNode.reader = reader ? readAhead(reader) : undefined;
      fsNode.size = reader ? reader.size : 4096;
      fsNode.contents = reader ? undefined : {};
      if (parent) parent.contents[name] = fsNode;
      return fsNode;
    },
    node_ops: {
      getattr(fsNode: Any) {
        const t = new Date(fsNode.timestamp);
        return {
          dev: 1,
          ino: fsNode.id,
          mode: fsNode.mode,
          nlink: 1,
          uid: 0,
          gid: 0,
          rdev: 0,
          size: fsNode.size,
          atime: t,
          mtime: t,
          ctime: t,
          blksize: 4096,
          blocks: Math.ceil(fsNode.size / 4096),
        };
      },
      setattr() {},
      lookup() {
        throw new FS.ErrnoError(ENOENT);
      },
      mknod() {
        throw new FS.ErrnoError(EPERM);
      },
      rename() {
        throw new FS.ErrnoError(EPERM);
      },
      unlink() {
        throw new FS.ErrnoError(EPERM);
      },
      rmdir() {
        throw new FS.ErrnoError(EPERM);
      },
      readdir(fsNode: Any) {
        return [".", "..", ...Object.keys(fsNode.contents ?? {})];
      },
      symlink() {
        throw new FS.ErrnoError(EPERM);
      },
      readlink() {
        throw new FS.ErrnoError(EPERM);
      },
    },
    stream_ops: {
      read(stream: Any, buffer: Uint8Array, offset: number, length: number, position: number) {
        const fsNode = stream.node;
        if (position >= fsNode.size) return 0;
        const n = Math.min(length, fsNode.size - position);
        try {
          return fsNode.reader.readInto(buffer.subarray(offset, offset + n), position);
        } catch {
          throw new FS.ErrnoError(EIO);
        }
      },
      write() {
        throw new FS.ErrnoError(EIO);
      },
      llseek(stream: Any, offset: number, whence: number) {
        let position = offset;
        if (whence === SEEK_CUR) position += stream.position;
        else if (whence === SEEK_END) position += stream.node.size;
        if (position < 0) throw new FS.ErrnoError(EINVAL);
        return position;
      },
    },
  };
  return fs;
}

/**
 * Serves small reads from a 1 MiB window read ahead. llama.cpp parses GGUF headers a few bytes
 * per read (~13k reads for the tiny pair, far more for a 151k-token vocabulary); each read of a
 * disk-backed Blob (OPFS, a picked File) is a round trip to the browser's file backend (~3 ms in
 * Chromium): the tiny pair took 35-68 s to load from OPFS, 4-7 s with this window (10k reads
 * became 5). Large reads (tensor data) go straight to the destination.
 */
export function readAhead(r: SyncReader, window = 1 << 20): SyncReader {
  let buf = new Uint8Array(0);
  let start = 0;
  return {
    size: r.size,
    readInto(dst, position) {
      if (dst.length >= window) return r.readInto(dst, position);
      if (position < start || position + dst.length > start + buf.length) {
        const fill = new Uint8Array(Math.max(0, Math.min(window, r.size - position)));
        buf = fill.subarray(0, fill.length && r.readInto(fill, position));
        start = position;
      }
      const n = Math.max(0, Math.min(dst.length, start + buf.length - position));
      dst.set(buf.subarray(position - start, position - start + n));
      return n;
    },
    close: () => r.close(),
  };
}
