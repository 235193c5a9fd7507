// The fuzzer's PRNG is the repository's one (@cumulus/testing/prng); re-exported because
// this path is part of the package's public testing API.
import { baseSeed } from "@cumulus/testing/prng";

export { createRng, type Rng } from "@cumulus/testing/prng";

/** Base seed of the planner's randomized tests; TEST_SEED=<n> replays a failure. */
export const BASE_SEED: number = baseSeed(0x5eed5);
