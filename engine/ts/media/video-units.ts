/**
 * A video's units as encoder tiles, built where the frames are decoded (the media worker), so
 * frames never leave it: frames are decoded in increasing order, each unit (a main frame or a
 * composite) is laid out and cut into tiles as soon as its last frame is there, and a frame is
 * dropped once every unit that uses it is built. Memory holds the frames of unbuilt units only, and
 * a frame whose units are all built at once is never copied out of the decoder's buffer.
 */

import { unitImage } from "../video/composite.ts";
import { type DecodedFrame, decodeOrder } from "../video/decoder.ts";
import type { VideoUnit } from "../video/plan.ts";
import { imageTiles } from "../vision/preprocess.ts";
import type { RgbImage } from "../vision/resize.ts";
import type { Tile } from "../vision/vision-model.ts";

export interface UnitTiles {
  /** position of the unit in the list given to the builder */
  unit: number;
  /** overview, then slices row-major (vision/preprocess.ts imageTiles) */
  tiles: Tile[];
  /** frames decoded since the previous unit was handed out */
  framesDecoded: number;
}

export class VideoUnitBuilder {
  /** frame -> the units that use it */
  private readonly users = new Map<number, number[]>();
  private readonly order: number[];
  private readonly frames = new Map<number, RgbImage>();
  private readonly built: boolean[];
  private readonly ready: Omit<UnitTiles, "framesDecoded">[] = [];
  private next = 0;

  constructor(
    private readonly units: VideoUnit[],
    frameCount: number,
    /** decodes a frame into a buffer valid until the next call (OpenVideo.decodeInPlace) */
    private readonly decode: (index: number) => DecodedFrame,
    private readonly mean?: number[],
    private readonly std?: number[],
  ) {
    for (const [k, u] of units.entries()) {
      for (const f of u.frames) this.users.set(f, [...(this.users.get(f) ?? []), k]);
    }
    this.order = decodeOrder(this.users.keys(), frameCount);
    this.built = units.map(() => false);
  }

  /** The next built unit, decoding as many frames as it takes; null once every unit was handed out. */
  nextUnit(): UnitTiles | null {
    let framesDecoded = 0;
    while (this.ready.length === 0 && this.next < this.order.length) {
      // the frame in the decoder's buffer: copied only if a unit still needs it after this step
      const { index, width, height, rgb } = this.decode(this.order[this.next++]);
      this.frames.set(index, { width, height, data: rgb });
      framesDecoded++;
      for (const k of this.users.get(index)!) {
        const unit = this.units[k];
        if (this.built[k] || !unit.frames.every((f) => this.frames.has(f))) continue;
        this.ready.push({ unit: k, tiles: imageTiles(unitImage(unit, this.frames), unit.image, this.mean, this.std) });
        this.built[k] = true;
      }
      // a unit's frames all precede its last one, so frames of built units are not needed again
      for (const f of [...this.frames.keys()]) {
        if (this.users.get(f)!.every((k) => this.built[k])) this.frames.delete(f);
      }
      if (this.frames.has(index)) this.frames.set(index, { width, height, data: rgb.slice() });
    }
    const unit = this.ready.shift();
    return unit ? { ...unit, framesDecoded } : null;
  }
}
