// The operations page's script, run by the browser (served compiled at /admin/ui/ops.js; its own
// program, see tsconfig.json here). It keeps the admin token in sessionStorage, never in a URL, sends
// it as a bearer header on every call, and polls the admin endpoints once a second. It imports
// nothing: the compiled file is all the browser loads. The shapes below are the parts of the admin
// answers it reads (the OpenAPI document at /docs has them whole).

interface RebuildRecord {
  readonly id: string;
  readonly projection: string;
  readonly state: 'requested' | 'running' | 'switched' | 'failed' | 'cancelled';
  readonly error: string | null;
  readonly progress: {
    readonly phase: string;
    readonly eventsDone: number;
    readonly eventsTotal: number;
    readonly eventsPerSecond: number;
    readonly etaSeconds: number | null;
  } | null;
}

interface ProjectionStatus {
  readonly name: string;
  readonly generation: number | null;
  readonly generationVersion: number | null;
  readonly state: 'live' | 'rebuild-requested' | 'rebuilding' | 'missing';
  readonly lag: number | null;
  readonly parkedEvents: number;
  readonly offsets: readonly { readonly partition: number; readonly lag: number | null }[];
  readonly lastRebuild: RebuildRecord | null;
}

interface ParkedEventItem {
  readonly id: string;
  readonly projection: string;
  readonly orderId: string | null;
  readonly partition: number;
  readonly offset: string;
  readonly reason: string;
  readonly deadLettered: boolean;
  readonly parkedAt: string;
}

/** GET /admin/outbox: the in-process relay counts events in the outbox; Debezium's backlog is its slot's log. */
type OutboxBacklog =
  | { readonly relay: 'in-process'; readonly backlogEvents: number; readonly oldestEventAgeSeconds: number }
  | {
      readonly relay: 'debezium';
      readonly captureSlot: {
        readonly name: string;
        readonly present: boolean;
        readonly active: boolean;
        readonly lagBytes: number | null;
      };
    };

const TOKEN_KEY = 'orders.adminToken';
/** Every second while a rebuild is under way, so its bar moves; every 5 s otherwise (each call is an audited admin call). */
const FAST_POLL_MS = 1_000;
const SLOW_POLL_MS = 5_000;

class Unauthorized extends Error {}

/** One admin call with the bearer token; a 401 signs the operator out, any other failure throws its message. */
async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, token = storedToken()): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token ?? ''}`, Accept: 'application/json' },
    cache: 'no-store',
  });
  if (response.status === 401) throw new Unauthorized('the admin token was refused (401)');
  const body = (await response.json().catch(() => ({}))) as { message?: unknown };
  if (!response.ok) {
    const message = typeof body.message === 'string' ? body.message : response.statusText;
    throw new Error(`${method} ${path}: ${String(response.status)} ${message}`);
  }
  return body as T;
}

function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

/** An element of a known kind: the page's markup is the contract, so a mismatch is a bug, said at once. */
function typed<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = element(id);
  if (!(found instanceof kind)) throw new Error(`#${id} is not a ${kind.name}`);
  return found;
}

/** Builds an element with text and attributes; text is always set as text, never parsed as HTML. */
function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text = '',
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function button(label: string, testId: string, onClick: () => void): HTMLButtonElement {
  const node = make('button', label, { type: 'button', 'data-testid': testId });
  node.addEventListener('click', onClick);
  return node;
}

const count = (value: number): string => value.toLocaleString('en');

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${String(s)} s`;
  if (s < 3_600) return `${String(Math.floor(s / 60))} min ${String(s % 60)} s`;
  return `${String(Math.floor(s / 3_600))} h ${String(Math.floor((s % 3_600) / 60))} min`;
}

// ---- confirmation ----------------------------------------------------------------------------------

/** Asks before any action: resolves true only when the operator presses Confirm. */
function confirmAction(question: string, confirmLabel: string): Promise<boolean> {
  const dialog = typed('confirm', HTMLDialogElement);
  element('confirm-text').textContent = question;
  element('confirm-ok').textContent = confirmLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        resolve(dialog.returnValue === 'ok');
      },
      { once: true },
    );
  });
}

async function act(question: string, confirmLabel: string, action: () => Promise<string>): Promise<void> {
  if (!(await confirmAction(question, confirmLabel))) return;
  try {
    notice(await action());
  } catch (error) {
    if (error instanceof Unauthorized) signOut(error.message);
    else notice(error instanceof Error ? error.message : String(error), true);
  }
  await refresh();
  if (storedToken() !== null) schedule(); // at once at the pace the new state asks for
}

function notice(text: string, isError = false): void {
  const node = element('notice');
  node.textContent = text;
  node.className = isError ? 'notice error' : 'notice';
  node.hidden = false;
}

// ---- actions ---------------------------------------------------------------------------------------

function startRebuild(name: string): void {
  void act(
    `Rebuild ${name} from offset zero? The live generation keeps serving until the new one switches.`,
    'Start rebuild',
    async () => {
      const { rebuild } = await api<{ rebuild: RebuildRecord }>(
        'POST',
        `/admin/projections/${encodeURIComponent(name)}/rebuild`,
      );
      return `Rebuild ${rebuild.id} of ${name} requested.`;
    },
  );
}

function cancelRebuild(rebuild: RebuildRecord): void {
  void act(
    `Cancel rebuild ${rebuild.id} of ${rebuild.projection}? Its generation is dropped; the live one keeps serving.`,
    'Cancel rebuild',
    async () => {
      await api('POST', `/admin/projections/${encodeURIComponent(rebuild.projection)}/rebuilds/${rebuild.id}/cancel`);
      return `Rebuild ${rebuild.id} of ${rebuild.projection} cancelled.`;
    },
  );
}

function retryParked(item: ParkedEventItem): void {
  const orderId = item.orderId ?? '';
  void act(
    `Retry the parked events of order ${orderId} in ${item.projection}? What still fails stays parked.`,
    'Retry',
    async () => {
      const path = `/admin/parked-events/orders/${encodeURIComponent(orderId)}/retry?projection=${encodeURIComponent(item.projection)}`;
      const outcome = await api<Record<string, { applied: number; stillParked: number }>>('POST', path);
      const result = outcome[item.projection];
      return `Retried order ${orderId} in ${item.projection}: ${String(result?.applied ?? 0)} applied, ${String(result?.stillParked ?? 0)} still parked.`;
    },
  );
}

function discardParked(item: ParkedEventItem): void {
  void act(
    `Discard parked event ${item.id} (${item.projection}, partition ${String(item.partition)} offset ${item.offset})? ` +
      'The read model skips it for good.',
    'Discard',
    async () => {
      await api('DELETE', `/admin/parked-events/${encodeURIComponent(item.id)}`);
      return `Parked event ${item.id} discarded.`;
    },
  );
}

// ---- rendering -------------------------------------------------------------------------------------

const isActive = (rebuild: RebuildRecord | null): rebuild is RebuildRecord =>
  rebuild?.state === 'requested' || rebuild?.state === 'running';

function renderProjections(items: readonly ProjectionStatus[]): void {
  const body = typed('projection-rows', HTMLTableSectionElement);
  body.replaceChildren(
    ...items.map((item) => {
      const row = make('tr', '', { 'data-projection': item.name });
      const generation =
        item.generation === null ? '—' : `g${String(item.generation)} (v${String(item.generationVersion ?? '?')})`;
      const partitions = make('td', '', { class: 'partitions' });
      for (const offset of item.offsets) {
        const lag = offset.lag === null ? '?' : count(offset.lag);
        partitions.append(make('span', `p${String(offset.partition)} ${lag}`, { class: offset.lag ? 'lagging' : '' }));
      }
      const actions = make('td', '', { class: 'actions' });
      const active = item.lastRebuild;
      if (isActive(active))
        actions.append(
          button('Cancel rebuild', 'cancel-rebuild', () => {
            cancelRebuild(active);
          }),
        );
      else
        actions.append(
          button('Rebuild', 'rebuild', () => {
            startRebuild(item.name);
          }),
        );
      row.append(
        make('th', item.name, { scope: 'row' }),
        make('td', generation, { 'data-testid': 'generation' }),
        make('td', item.state, { class: `state state-${item.state}`, 'data-testid': 'state' }),
        make('td', item.lag === null ? '?' : count(item.lag), { class: 'number', 'data-testid': 'lag' }),
        partitions,
        make('td', count(item.parkedEvents), { class: 'number', 'data-testid': 'parked' }),
        actions,
      );
      return row;
    }),
  );
}

/** Rebuilds seen running while the page is open stay shown when they end, so the bar is seen to finish. */
const followed = new Set<string>();

function renderRebuilds(items: readonly ProjectionStatus[]): void {
  const shown = items
    .map((item) => item.lastRebuild)
    .filter((rebuild): rebuild is RebuildRecord => rebuild !== null && (followed.has(rebuild.id) || isActive(rebuild)));
  for (const rebuild of shown) followed.add(rebuild.id);
  element('rebuilds-empty').hidden = shown.length > 0;
  element('rebuilds').replaceChildren(...shown.map(rebuildCard));
}

function rebuildCard(rebuild: RebuildRecord): HTMLElement {
  const card = make('article', '', { class: `rebuild rebuild-${rebuild.state}`, 'data-rebuild': rebuild.id });
  const progress = rebuild.progress;
  const total = progress?.eventsTotal ?? 0;
  const done = progress?.eventsDone ?? 0;
  const finished = rebuild.state === 'switched' || progress?.phase === 'done';
  const percent = total > 0 ? Math.floor((Math.min(done, total) / total) * 100) : finished ? 100 : 0;
  const bar = make('progress', '', { max: '100', value: String(percent), 'aria-label': `rebuild ${rebuild.id}` });
  const phase = progress ? ` · ${progress.phase}` : '';
  const heading = make('h3', `${rebuild.projection} · rebuild ${rebuild.id} · ${rebuild.state}${phase}`);
  const figures = [
    `${String(percent)} %`,
    `${count(done)} of ${count(total)} events`,
    progress ? `${count(Math.round(progress.eventsPerSecond))} events/s` : 'waiting for a worker',
    progress?.etaSeconds == null ? 'ETA —' : `ETA ${duration(progress.etaSeconds)}`,
  ];
  const line = make('p', figures.join(' · '), { class: 'figures', 'data-testid': 'rebuild-figures' });
  card.append(heading, bar, line);
  if (rebuild.error) card.append(make('p', rebuild.error, { class: 'error' }));
  if (isActive(rebuild))
    card.append(
      button('Cancel rebuild', 'cancel-rebuild', () => {
        cancelRebuild(rebuild);
      }),
    );
  return card;
}

function renderParked(items: readonly ParkedEventItem[]): void {
  element('parked-empty').hidden = items.length > 0;
  element('parked-table').hidden = items.length === 0;
  typed('parked-rows', HTMLTableSectionElement).replaceChildren(
    ...items.map((item) => {
      const row = make('tr', '', { 'data-parked': item.id });
      const actions = make('td', '', { class: 'actions' });
      if (item.orderId !== null)
        actions.append(
          button('Retry', 'retry', () => {
            retryParked(item);
          }),
        );
      actions.append(
        button('Discard', 'discard', () => {
          discardParked(item);
        }),
      );
      row.append(
        make('td', item.id, { class: 'number' }),
        make('td', item.projection),
        make('td', item.orderId ?? '(no key)', { class: 'mono' }),
        make('td', `${String(item.partition)}:${item.offset}`, { class: 'mono' }),
        make('td', item.deadLettered ? 'poison (dead-lettered)' : 'waiting behind poison'),
        make('td', item.reason, { class: 'reason' }),
        make('td', new Date(item.parkedAt).toLocaleString('en-GB')),
        actions,
      );
      return row;
    }),
  );
}

function renderOutbox(outbox: OutboxBacklog | Error): void {
  const backlog = element('outbox-backlog');
  const age = element('outbox-age');
  const debezium = !(outbox instanceof Error) && outbox.relay === 'debezium';
  element('outbox-backlog-label').textContent = debezium ? 'Backlog (Debezium)' : 'Backlog';
  element('outbox-age-label').textContent = debezium ? 'Capture slot' : 'Oldest unpublished event';
  if (outbox instanceof Error) {
    backlog.textContent = 'unknown';
    age.textContent = outbox.message;
    return;
  }
  if (outbox.relay === 'debezium') {
    const { name, present, active, lagBytes } = outbox.captureSlot;
    backlog.textContent = lagBytes === null ? 'unknown' : `${count(lagBytes)} bytes of log not yet confirmed`;
    age.textContent = !present
      ? `${name} is missing`
      : `${name}, ${active ? 'read by a connector' : 'no connector reading'}`;
    return;
  }
  backlog.textContent = `${count(outbox.backlogEvents)} events`;
  age.textContent = outbox.backlogEvents === 0 ? 'nothing waiting' : duration(outbox.oldestEventAgeSeconds);
}

// ---- polling and sign-in ---------------------------------------------------------------------------

let timer: number | undefined;
let rebuildUnderWay = false;
/** What each part last showed: a part whose data did not change is left alone, so a button is never replaced under a click. */
const shown = { projections: '', parked: '', outbox: '' };

async function refresh(): Promise<void> {
  if (storedToken() === null) return;
  try {
    const [projections, parked, outbox] = await Promise.all([
      api<{ items: ProjectionStatus[] }>('GET', '/admin/projections'),
      api<{ items: ParkedEventItem[] }>('GET', '/admin/parked-events?limit=200'),
      api<OutboxBacklog>('GET', '/admin/outbox').catch((error: unknown) =>
        error instanceof Unauthorized ? Promise.reject(error) : (error as Error),
      ),
    ]);
    rebuildUnderWay = projections.items.some((item) => isActive(item.lastRebuild));
    if (changed('projections', projections.items)) {
      renderProjections(projections.items);
      renderRebuilds(projections.items);
    }
    if (changed('parked', parked.items)) renderParked(parked.items);
    if (changed('outbox', outbox instanceof Error ? outbox.message : outbox)) renderOutbox(outbox);
    element('updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
  } catch (error) {
    if (error instanceof Unauthorized) signOut(error.message);
    else element('updated').textContent = `update failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function changed(part: keyof typeof shown, data: unknown): boolean {
  const json = JSON.stringify(data);
  if (shown[part] === json) return false;
  shown[part] = json;
  return true;
}

function schedule(): void {
  window.clearTimeout(timer);
  timer = window.setTimeout(
    () => {
      void refresh().finally(() => {
        if (storedToken() !== null) schedule();
      });
    },
    rebuildUnderWay ? FAST_POLL_MS : SLOW_POLL_MS,
  );
}

function showConsole(): void {
  element('login-panel').hidden = true;
  element('console').hidden = false;
  element('sign-out').hidden = false;
  void refresh().finally(schedule);
}

function signOut(reason?: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  window.clearTimeout(timer);
  followed.clear();
  shown.projections = shown.parked = shown.outbox = '';
  element('console').hidden = true;
  element('sign-out').hidden = true;
  element('notice').hidden = true;
  element('login-panel').hidden = false;
  const error = element('login-error');
  error.textContent = reason ? `Signed out: ${reason}.` : '';
  error.hidden = !reason;
}

async function signIn(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const input = typed('token', HTMLInputElement);
  const token = input.value.trim();
  const error = element('login-error');
  try {
    await api('GET', '/admin/projections', token); // proves the token before it is kept
  } catch (failure) {
    error.textContent =
      failure instanceof Unauthorized
        ? 'That token was refused (401). Use the ADMIN_TOKEN the query API runs with.'
        : `Sign-in failed: ${failure instanceof Error ? failure.message : String(failure)}`;
    error.hidden = false;
    return;
  }
  input.value = '';
  error.hidden = true;
  sessionStorage.setItem(TOKEN_KEY, token);
  showConsole();
}

typed('login', HTMLFormElement).addEventListener('submit', (event) => void signIn(event));
element('sign-out').addEventListener('click', () => {
  signOut();
});
if (storedToken() === null) signOut();
else showConsole();
