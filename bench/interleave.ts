/**
 * What the benches share: interleaved rounds of samples and their median.
 */

/**
 * The middle value of `xs` (NaN when empty); for an even count, the upper of the two middle values,
 * so it is always one of the samples.
 */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/**
 * Takes `warmup + rounds` rounds of one sample per item and returns each item's samples (in the
 * order of `items`), leaving out the first `warmup` rounds. Each round starts one item further
 * along than the one before, so drift in the machine's load hits every item alike.
 */
export async function interleave<T>(items: readonly T[], rounds: number, sample: (item: T) => number | Promise<number>, warmup = 0): Promise<number[][]> {
  const samples = items.map((): number[] => []);
  for (let round = 0; round < warmup + rounds; round += 1) {
    for (let k = 0; k < items.length; k += 1) {
      const i = (round + k) % items.length;
      const value = await sample(items[i] as T);
      if (round >= warmup) samples[i]!.push(value);
    }
  }
  return samples;
}

/** How long `op` takes, in ms. */
export async function timed(op: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await op();
  return performance.now() - started;
}
