/**
 * The seed of a property whose coverage is asserted afterwards (so many evictions, swapouts, ...): a
 * fixed sequence of cases, so that the count does not depend on luck; DRMSIM_FC_SEED explores others.
 */
export const coverageSeed = (salt = 0): number => (Number(process.env.DRMSIM_FC_SEED ?? 0x5eed) + salt) | 0
