/**
 * The data path as core sees it: copy one source disk into one sink, skipping what need not
 * move, resuming from a checkpoint, verifying at the end. `replication/` implements it.
 */
import type { DiskSink, SourceDisk } from './drivers.js';

export interface DiskCopyRequest {
  /** Stable key of this disk's replication state (the target volume id). */
  key: string;
  disk: SourceDisk;
  sink: DiskSink;
  mode: 'full' | 'incremental';
  /** Mbps; null = unlimited. */
  limitMbps: number | null;
  signal: AbortSignal;
  onProgress(doneBytes: number, totalBytes: number): void;
}

export interface DiskCopyResult {
  /** Bytes the plan covered (allocated or changed areas). */
  plannedBytes: number;
  /** Bytes read from the source. */
  readBytes: number;
  /** Bytes written to the sink (zero and unchanged chunks are not). */
  sentBytes: number;
  chunksSent: number;
  chunksSkipped: number;
  resumedFromBytes: number;
  /** Digest of the whole disk as the sink holds it, equal to the source's. */
  verified: boolean;
  summary: string;
}

export interface Replicator {
  copyDisk(request: DiskCopyRequest): Promise<DiskCopyResult>;
  /** Forgets a disk's replication state (cleanup). */
  forget(key: string): Promise<void>;
}
