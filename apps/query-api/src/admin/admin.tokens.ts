/** The projections the admin endpoints know, injected so tests can give their own. */
export const PROJECTIONS = Symbol('PROJECTIONS');
