// The operations page's HTML and style sheet, served as they are. The script is ops-page.client.ts,
// compiled with the rest; nothing is loaded from anywhere but this API (the page's CSP says so too).

export const OPS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Orders · operations</title>
  <link rel="stylesheet" href="/admin/ui/ops.css">
  <script type="module" src="/admin/ui/ops.js"></script>
</head>
<body>
  <header>
    <h1>Orders · operations</h1>
    <span id="updated" class="muted"></span>
    <button id="sign-out" type="button" hidden>Sign out</button>
  </header>
  <main>
    <section id="login-panel" class="panel narrow">
      <h2>Sign in</h2>
      <p class="muted">The admin token is the query API's <code>ADMIN_TOKEN</code>. It is kept in this tab's
        session storage only and sent as a bearer header, never in a URL.</p>
      <form id="login" method="post" autocomplete="off">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" required minlength="16" autocomplete="off" spellcheck="false">
        <button type="submit">Sign in</button>
      </form>
      <p id="login-error" class="error" role="alert" hidden></p>
    </section>

    <div id="console" hidden>
      <p id="notice" class="notice" role="status" hidden></p>

      <section class="panel" aria-labelledby="outbox-title">
        <h2 id="outbox-title">Outbox</h2>
        <dl class="figures-row">
          <div><dt id="outbox-backlog-label">Backlog</dt><dd id="outbox-backlog">…</dd></div>
          <div><dt id="outbox-age-label">Oldest unpublished event</dt><dd id="outbox-age">…</dd></div>
        </dl>
      </section>

      <section class="panel" aria-labelledby="projections-title">
        <h2 id="projections-title">Projections</h2>
        <table id="projections">
          <thead>
            <tr><th scope="col">Projection</th><th scope="col">Generation</th><th scope="col">State</th>
              <th scope="col" class="number">Lag</th><th scope="col">Lag per partition</th>
              <th scope="col" class="number">Parked</th><th scope="col"></th></tr>
          </thead>
          <tbody id="projection-rows"></tbody>
        </table>
      </section>

      <section class="panel" aria-labelledby="rebuilds-title">
        <h2 id="rebuilds-title">Rebuilds</h2>
        <p id="rebuilds-empty" class="muted">No rebuild running.</p>
        <div id="rebuilds"></div>
      </section>

      <section class="panel" aria-labelledby="parked-title">
        <h2 id="parked-title">Parked events</h2>
        <p id="parked-empty" class="muted">Nothing parked.</p>
        <table id="parked-table" hidden>
          <thead>
            <tr><th scope="col" class="number">Id</th><th scope="col">Projection</th><th scope="col">Order</th>
              <th scope="col">Partition:offset</th><th scope="col">Kind</th><th scope="col">Reason</th>
              <th scope="col">Parked at</th><th scope="col"></th></tr>
          </thead>
          <tbody id="parked-rows"></tbody>
        </table>
      </section>
    </div>
  </main>

  <dialog id="confirm">
    <form method="dialog">
      <p id="confirm-text"></p>
      <div class="dialog-buttons">
        <button value="cancel" formnovalidate>Back</button>
        <button id="confirm-ok" value="ok" class="primary">Confirm</button>
      </div>
    </form>
  </dialog>
</body>
</html>
`;

export const OPS_PAGE_CSS = `:root {
  --ink: #1d2530;
  --muted: #5d6b7a;
  --line: #d9dee4;
  --panel: #ffffff;
  --page: #f3f5f7;
  --accent: #1f6feb;
  --ok: #1a7f37;
  --warn: #9a6700;
  --bad: #cf222e;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink);
  background: var(--page);
}
body { margin: 0; }
header {
  display: flex; align-items: center; gap: 1rem;
  padding: 0.8rem 1.5rem; background: var(--ink); color: #fff;
}
header h1 { font-size: 1.15rem; margin: 0; flex: 1; }
header .muted { color: #c5ced8; }
main { max-width: 72rem; margin: 0 auto; padding: 1.25rem 1.5rem 3rem; }
h2 { font-size: 1.05rem; margin: 0 0 0.75rem; }
h3 { font-size: 0.95rem; margin: 0 0 0.5rem; }
.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.25rem; margin-bottom: 1.25rem;
}
.narrow { max-width: 28rem; margin: 3rem auto; }
.muted { color: var(--muted); }
.mono, code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.85em; }
form { display: grid; gap: 0.5rem; }
label { font-weight: 600; }
input[type="password"] { font: inherit; padding: 0.45rem 0.6rem; border: 1px solid var(--line); border-radius: 6px; }
button {
  font: inherit; font-size: 0.9rem; padding: 0.35rem 0.8rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: #f6f8fa; color: var(--ink);
}
button:hover { background: #eaeef2; }
button[type="submit"], button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
header button { background: transparent; color: #fff; border-color: #5d6b7a; }
table { width: 100%; border-collapse: collapse; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.45rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted); }
.number { text-align: right; font-variant-numeric: tabular-nums; }
.actions { text-align: right; white-space: nowrap; }
.actions button + button { margin-left: 0.4rem; }
.partitions span { display: inline-block; margin: 0 0.5rem 0.15rem 0; font-variant-numeric: tabular-nums; color: var(--muted); }
.partitions span.lagging { color: var(--warn); font-weight: 600; }
.state { font-weight: 600; }
.state-live { color: var(--ok); }
.state-rebuilding, .state-rebuild-requested { color: var(--accent); }
.state-missing { color: var(--bad); }
.reason { max-width: 20rem; overflow-wrap: anywhere; }
.figures-row { display: flex; gap: 3rem; margin: 0; }
.figures-row dt { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.03em; }
.figures-row dd { margin: 0.2rem 0 0; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
.rebuild { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem 1rem; margin-bottom: 0.75rem; }
.rebuild progress { width: 100%; height: 1.1rem; appearance: none; border: 0; border-radius: 4px; overflow: hidden; }
.rebuild progress::-webkit-progress-bar { background: #e6ebf0; }
.rebuild progress::-webkit-progress-value { background: var(--accent); }
.rebuild progress::-moz-progress-bar { background: var(--accent); }
.rebuild-switched progress::-webkit-progress-value { background: var(--ok); }
.rebuild-switched progress::-moz-progress-bar { background: var(--ok); }
.rebuild-failed progress::-webkit-progress-value, .rebuild-cancelled progress::-webkit-progress-value { background: var(--bad); }
.figures { margin: 0.4rem 0; font-variant-numeric: tabular-nums; }
.notice { background: #ddf4ff; border: 1px solid #a5d6ff; border-radius: 6px; padding: 0.5rem 0.75rem; }
.notice.error, .error { color: var(--bad); }
.notice.error { background: #ffebe9; border-color: #ffcecb; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1.25rem; max-width: 30rem; }
dialog::backdrop { background: rgba(29, 37, 48, 0.45); }
.dialog-buttons { display: flex; justify-content: flex-end; gap: 0.5rem; }
[hidden] { display: none !important; }
`;
