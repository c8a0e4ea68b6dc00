import { chain, fanOut, sideBySide, type BenchEnv } from '../env';

/** Benchmarks 1–3: per-node overhead, in-workflow nodes, fan-out; each against hand-written code. */
export async function overhead(env: BenchEnv, runs: number) {
  const dag = (definition: object) => env.time('dagWorkflow', [{ definition }]);
  const storedChain = await env.store(chain('benchNoop', 40));
  const mixed = chain('transform', 40, (i) => (i % 2 ? { expression: `nodes.n${i - 1}.output + 1` } : { expression: `${i}` }));
  return {
    activityChain40: await sideBySide(runs, () => dag(chain('benchNoop', 40)), () => env.time('handWrittenChain', [40])),
    // The same chain as a stored workflow: loads its definition and mirrors every transition.
    activityChain40Mirrored: await sideBySide(runs, () => env.time('dagWorkflow', [{ workflowId: storedChain }]), () => env.time('handWrittenChain', [40])),
    // Budget: one activity round trip through the same interpreter.
    transformChain40: await sideBySide(runs, () => dag(mixed), () => dag(chain('benchNoop', 1))),
    fanOut100: await sideBySide(runs, () => dag(fanOut(100)), () => env.time('handWrittenFanOut', [100, 500])),
    fanOut1000: await sideBySide(Math.max(1, Math.ceil(runs / 2)), () => dag(fanOut(1000)), () => env.time('handWrittenFanOut', [1000, 500])),
  };
}
