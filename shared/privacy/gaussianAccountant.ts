/**
 * The privacy a federation has spent, for DP-FedAvg's rounds of the Gaussian mechanism, through Rényi
 * differential privacy (Mironov 2017): one round with noise multiplier z (noise standard deviation z times
 * the sensitivity) is (α, α/(2z²))-RDP for every order α > 1; T rounds compose to (α, T·α/(2z²)); and
 * (α, ρ)-RDP gives (ρ + ln(1/δ)/(α − 1), δ)-DP. The best order has a closed form, so ε is exact for this
 * bound. It gives no credit for client sampling (each round counts as if every site took part): a valid,
 * if loose, bound however the sites are sampled.
 */

export interface PrivacySpent {
  epsilon: number;
  delta: number;
}

/**
 * ε after `rounds` rounds at noise multiplier `z` for the given δ: min over α of T·α/(2z²) + ln(1/δ)/(α − 1),
 * which is a + 2·√(a·ln(1/δ)) with a = T/(2z²). Infinite without noise.
 */
export function gaussianEpsilon(z: number, rounds: number, delta: number): number {
  if (!(delta > 0 && delta < 1)) throw new Error(`delta must be in (0, 1), got ${delta}`);
  if (rounds <= 0) return 0;
  if (!(z > 0)) return Infinity;
  const a = rounds / (2 * z * z);
  return a + 2 * Math.sqrt(a * Math.log(1 / delta));
}
