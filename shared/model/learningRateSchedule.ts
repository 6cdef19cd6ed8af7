/**
 * The learning rate of each epoch (centralized) or round (federated), so both runs decay it the same way.
 * Cosine annealing (Loshchilov & Hutter, SGDR) from the base rate at step 1 towards `min` after the last step:
 * a per-round rate needs nothing new on the wire, because every round's task already carries its rate.
 */
import { UserError } from "../errors.js";

export type ScheduleKind = "constant" | "cosine";
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ["constant", "cosine"];

export interface LearningRateSchedule {
  kind: ScheduleKind;
  /** cosine: the rate it decays towards (reached just after the last step). */
  min: number;
}

export const CONSTANT_RATE: LearningRateSchedule = { kind: "constant", min: 0 };

/** The rate for step `step` (1-based) of `total`. */
export function scheduledRate(base: number, schedule: LearningRateSchedule, step: number, total: number): number {
  if (schedule.kind === "constant" || total <= 1) return base;
  const progress = Math.min(Math.max(step - 1, 0), total) / total;
  return schedule.min + (base - schedule.min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** "constant", "cosine" or "cosine:<min>", validated against the base rate. */
export function parseSchedule(text: string, base: number): LearningRateSchedule {
  const [kind, arg, ...rest] = text.split(":");
  if (kind === "constant" && arg === undefined) return CONSTANT_RATE;
  if (kind === "cosine" && rest.length === 0) {
    const min = arg === undefined ? 0 : Number(arg);
    if (!(Number.isFinite(min) && min >= 0 && min <= base)) {
      throw new UserError(`--lr-schedule cosine:<min> needs 0 ≤ min ≤ --lr (${base}), got '${arg}'`);
    }
    return { kind: "cosine", min };
  }
  throw new UserError(`unknown --lr-schedule '${text}': expected constant, cosine or cosine:<min>`);
}
