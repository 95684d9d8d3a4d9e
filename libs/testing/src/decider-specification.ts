import assert from 'node:assert/strict';

/**
 * Given/when/then for deciders: given past events, when a command, then these events or this
 * rule's error code. Reads as the rule it checks.
 */
export interface SpecDecider<Command, Event, State> {
  readonly initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export function deciderSpecification<Command, Event, State>(decider: SpecDecider<Command, Event, State>) {
  return {
    given(history: readonly Event[]) {
      return {
        when(command: Command) {
          const run = (): Event[] =>
            decider.decide(
              command,
              history.reduce((state, event) => decider.evolve(state, event), decider.initialState),
            );
          return {
            then(expected: readonly Event[]): void {
              assert.deepEqual(run(), expected);
            },
            thenThrows(code: string): void {
              assert.throws(run, (error: unknown) => {
                assert.equal((error as { code?: unknown }).code, code);
                return true;
              });
            },
          };
        },
      };
    },
  };
}
