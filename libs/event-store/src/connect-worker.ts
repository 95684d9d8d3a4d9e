/** What `GET /connectors/<name>/status` answers. */
export interface ConnectorStatus {
  readonly name: string;
  readonly connector: { readonly state: string; readonly trace?: string };
  readonly tasks: readonly { readonly id: number; readonly state: string; readonly trace?: string }[];
}

/**
 * A Kafka Connect worker's REST API, as far as the capture connector needs it: register, wait until
 * running, remove. Used by `npm run connect:register` and by the test kit's PrivateConnect.
 */
export class ConnectWorker {
  constructor(readonly url: string) {}

  /** Creates or updates a connector (`PUT /connectors/<name>/config`); rejects with Connect's reason. */
  async register(name: string, config: Readonly<Record<string, string>>): Promise<void> {
    const response = await fetch(this.connector(name, '/config'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    if (!response.ok)
      throw new Error(`Connect refused connector ${name}: ${String(response.status)} ${await response.text()}`);
  }

  /** The connector's status, or undefined while Connect does not know it. */
  async status(name: string): Promise<ConnectorStatus | undefined> {
    const response = await fetch(this.connector(name, '/status'));
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`status of ${name}: ${String(response.status)} ${await response.text()}`);
    return (await response.json()) as ConnectorStatus;
  }

  /**
   * Resolves once the connector and every task of it are RUNNING. Fails at once, with Connect's
   * trace, when either is FAILED: a wrong setting shows as its error, not as a timeout. `check` runs
   * between polls and may throw to give up sooner (a worker that exited).
   */
  async waitRunning(name: string, timeoutMs = 60_000, check: () => void = () => undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no status yet';
    for (;;) {
      const status = await this.status(name);
      if (status) {
        last = describeStatus(status);
        const failed = failedPart(status);
        if (failed) throw new Error(`connector ${name} failed: ${last}\n${failed.trace ?? '(no trace)'}`);
        const parts = [status.connector, ...status.tasks];
        if (status.tasks.length > 0 && parts.every((part) => part.state === 'RUNNING')) return;
      }
      check();
      if (Date.now() > deadline)
        throw new Error(`connector ${name} not RUNNING within ${String(timeoutMs)} ms: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Throws, with the trace, if the connector or a task of it has FAILED: for a wait on its output. */
  async assertNotFailed(name: string): Promise<void> {
    const status = await this.status(name);
    const failed = status && failedPart(status);
    if (status && failed) throw new Error(`connector ${name} failed: ${describeStatus(status)}\n${failed.trace ?? ''}`);
  }

  /** Deletes a connector. Its offsets stay with the worker and its replication slot in Postgres (dropCaptureSlot). */
  async remove(name: string): Promise<void> {
    const response = await fetch(this.connector(name), { method: 'DELETE' });
    if (!response.ok && response.status !== 404)
      throw new Error(`deleting connector ${name}: ${String(response.status)} ${await response.text()}`);
  }

  private connector(name: string, path = ''): string {
    return `${this.url}/connectors/${encodeURIComponent(name)}${path}`;
  }
}

function failedPart(status: ConnectorStatus): { readonly state: string; readonly trace?: string } | undefined {
  return [status.connector, ...status.tasks].find((part) => part.state === 'FAILED');
}

function describeStatus(status: ConnectorStatus): string {
  const tasks = status.tasks.map((task) => `task ${String(task.id)} ${task.state}`).join(', ');
  return `connector ${status.connector.state}${tasks ? `, ${tasks}` : ', no tasks yet'}`;
}
