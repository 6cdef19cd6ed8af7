/**
 * Resolves once a round that closed in this turn of the event loop has been aggregated: the state machine
 * aggregates two turns later, so that the answer to the upload that closed the round goes out first
 * (closeRound in coordinator/rounds/roundStateMachine.ts).
 */
export const aggregationTurns = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
