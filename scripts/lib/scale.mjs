// How many instances of each app `npm start` runs: `--scale command-api=2,projection-worker=3`
// (or the same value in APP_SCALE), and the port each instance listens on.

const MAX_INSTANCES = 9;
/** Instance n of an app listens on its configured port + PORT_STEP × n: 3000, 3010, 3020, … */
export const PORT_STEP = 10;

/**
 * The instance count per app from the command line (`--scale a=n,b=m` or `--scale=a=n,…`) or,
 * when the flag is absent, the APP_SCALE variable. Throws an Error naming the problem for an
 * unknown flag, an unknown app, a count outside 1..9 or an app named twice.
 */
export function parseScale(argv, variable, appNames) {
  let value = variable?.trim() || undefined;
  let source = 'APP_SCALE';
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--scale' || argument.startsWith('--scale=')) {
      value = argument === '--scale' ? argv[++index] : argument.slice('--scale='.length);
      source = '--scale';
      if (value === undefined || value === '')
        throw new Error('--scale needs a value, e.g. command-api=2,projection-worker=3');
    } else {
      throw new Error(`unknown argument "${argument}"; the only option is --scale <app>=<count>[,<app>=<count>…]`);
    }
  }
  const scale = Object.fromEntries(appNames.map((name) => [name, 1]));
  if (value === undefined) return scale;
  const named = new Set();
  for (const entry of value.split(',')) {
    const match = /^\s*([a-z-]+)\s*=\s*(\d+)\s*$/.exec(entry);
    if (!match) throw new Error(`${source}: "${entry}" is not <app>=<count>`);
    const [, name, count] = match;
    if (!appNames.includes(name))
      throw new Error(`${source}: unknown app "${name}"; the apps are ${appNames.join(', ')}`);
    if (named.has(name)) throw new Error(`${source}: ${name} is named twice`);
    const instances = Number(count);
    if (instances < 1 || instances > MAX_INSTANCES)
      throw new Error(`${source}: ${name}=${count} is out of range; from 1 to ${MAX_INSTANCES} instances`);
    named.add(name);
    scale[name] = instances;
  }
  return scale;
}

/**
 * One entry per instance to run, in start order, each with a label (`command-api#2` from the
 * second on) and its port. Throws when an instance's port would leave the port range.
 */
export function instancesOf(apps, scale) {
  return apps.flatMap((app) =>
    Array.from({ length: scale[app.name] ?? 1 }, (_, index) => {
      const port = app.port + PORT_STEP * index;
      if (!Number.isInteger(app.port) || port > 65_535)
        throw new Error(`${app.portVariable}=${app.port} leaves no port for ${app.name} instance ${index + 1}`);
      return { ...app, port, label: index === 0 ? app.name : `${app.name}#${index + 1}` };
    }),
  );
}
