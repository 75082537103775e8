/**
 * A strict parser of the Prometheus text exposition format (0.0.4), written from the format's
 * specification ("Exposition formats" on prometheus.io) because no parser is installed (prom-client
 * only writes the format): line grammar, name and label rules, escapes, value syntax, one TYPE and
 * HELP per family before its samples, families contiguous, no duplicate series. Throws naming the
 * line and the rule it breaks.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parseExposition(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('the text must end with a line feed');
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const enter = (family: string, n: number) => {
    if (current !== family) {
      if (current !== undefined) finished.add(current);
      if (finished.has(family)) throw new Error(`line ${n}: family ${family} is not contiguous`);
      current = family;
    }
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const n = i + 1;
      if (line === '') return;
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
        if (!m) return; // a plain comment
        const [, keyword, name, rest] = m as unknown as [string, string, string, string];
        if (!METRIC.test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
        enter(name, n);
        if (keyword === 'TYPE') {
          if (!TYPES.has(rest)) throw new Error(`line ${n}: bad type ${rest}`);
          if (typed.has(name)) throw new Error(`line ${n}: second TYPE for ${name}`);
          if (samples.some((s) => s.name === name))
            throw new Error(`line ${n}: TYPE after samples of ${name}`);
          typed.set(name, rest);
        } else {
          if (helped.has(name)) throw new Error(`line ${n}: second HELP for ${name}`);
          if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`line ${n}: bad escape in HELP`);
          helped.add(name);
        }
        return;
      }
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
      if (!m) throw new Error(`line ${n}: not a sample line: ${line}`);
      const [, name, , body, value] = m as unknown as [
        string,
        string,
        string | undefined,
        string | undefined,
        string,
      ];
      if (!VALUE.test(value)) throw new Error(`line ${n}: bad value ${value}`);
      enter(name, n);
      const labels: Record<string, string> = {};
      let rest = body ?? '';
      while (rest.length > 0) {
        const lm = /^([^=]+)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
        if (!lm) throw new Error(`line ${n}: bad label list at ${rest}`);
        const [all, labelName, raw] = lm as unknown as [string, string, string];
        if (!LABEL.test(labelName) || labelName.startsWith('__'))
          throw new Error(`line ${n}: bad label name ${labelName}`);
        if (labelName in labels) throw new Error(`line ${n}: label ${labelName} twice`);
        labels[labelName] = raw.replace(/\\(["\\n])/g, (_e, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(all.length);
      }
      const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (series.has(id)) throw new Error(`line ${n}: duplicate series ${id}`);
      series.add(id);
      samples.push({ name, labels, value: Number(value) });
    });
  return samples;
}
