/** Waiting for vim25 tasks (ReconfigVM_Task, CreateSnapshot_Task, RemoveSnapshot_Task). */
import { RehostError } from '../../../../src-shared/errors.js';
import type { VimClient } from './client.js';
import { retrieveOne } from './property-collector.js';
import { moRef, type MoRef } from './types.js';
import { child, childText, xsiType } from './xml.js';

const POLL_MS = 250;

/** Starts `method` (a `…_Task`) and waits for it; returns the task's result reference, if any. */
export async function runTask(client: VimClient, method: string, target: MoRef, body: string, signal: AbortSignal, timeoutMs = 30 * 60_000): Promise<MoRef | null> {
  const res = await client.call(method, target, body, signal);
  const task = moRef(child(res, 'returnval'));
  if (task === null) throw new RehostError('DRIVER', `${method} returned no task`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const props = await retrieveOne(client, task, ['info.state', 'info.error', 'info.result'], signal);
    const state = childText({ s: props.get('info.state') }, 's');
    if (state === 'success') return moRef(props.get('info.result')) ?? null;
    if (state === 'error') {
      const error = props.get('info.error');
      const fault = child(error, 'fault');
      const message = childText(error, 'localizedMessage') || xsiType(fault) || 'unknown error';
      throw new TaskError(method, xsiType(fault), message);
    }
    if (Date.now() > deadline) throw new RehostError('DRIVER', `${method} did not finish in ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    signal.throwIfAborted();
  }
}

/** A task that ended in error, with the fault type kept. */
export class TaskError extends RehostError {
  constructor(
    readonly method: string,
    readonly faultType: string,
    message: string,
  ) {
    super('DRIVER', `${method} failed: ${message}${faultType ? ` (${faultType})` : ''}`);
  }
}
