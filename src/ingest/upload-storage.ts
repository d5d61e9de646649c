// Uploads on disk under DATA_DIR/ingest, one file per job: the request body is streamed to the
// file with a byte limit, so memory stays flat whatever the upload's size.
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class UploadTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`upload exceeds ${limit} bytes`);
  }
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export class UploadStorage {
  constructor(private readonly root: string) {}

  pathOf(jobId: string): string {
    if (!SAFE.test(jobId)) throw new Error('Invalid ingest job id');
    return join(this.root, `${jobId}.upload`);
  }

  /** Streams `body` to the job's file; removes the file and throws UploadTooLarge beyond `limit`. */
  async save(jobId: string, body: Readable, limit: number): Promise<{ path: string; bytes: number }> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const path = this.pathOf(jobId);
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(bytes > limit ? new UploadTooLarge(limit) : null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(path, { mode: 0o600, highWaterMark: 1 << 20 }));
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
    return { path, bytes };
  }

  async remove(jobId: string): Promise<void> {
    await rm(this.pathOf(jobId), { force: true });
  }
}
