// Loaded with `node --import` (NODE_OPTIONS) when BENCH_CPU_PROF is set: Node 20 refuses
// --cpu-prof in NODE_OPTIONS, so the engine profiles itself through the inspector and writes a
// .cpuprofile (open in Chrome DevTools) to BENCH_CPU_PROF when it exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The same-thread session answers synchronously, so this completes inside 'exit'.
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `engine-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
