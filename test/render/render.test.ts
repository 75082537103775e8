import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failbackGateInit } from '../../src/keepalived/model.js';
import { renderAll } from '../../src/keepalived/render.js';
import { loadSpec } from '../../src/spec/load.js';

const specs = readdirSync('test/render/specs').filter((file) => file.endsWith('.yaml'));

describe('render-config output matches the reviewed golden files', () => {
  it.each(specs)('%s', async (file) => {
    const loaded = loadSpec(`test/render/specs/${file}`);
    for (const { node, text } of renderAll(loaded)) {
      const golden = `golden/${file.replace('.yaml', '')}.${node}.conf`;
      // toMatchFileSnapshot writes a missing file and passes (outside CI): a golden must exist and
      // be reviewed before it can be compared with.
      expect(existsSync(new URL(golden, import.meta.url)), `${golden} is missing`).toBe(true);
      await expect(text).toMatchFileSnapshot(golden);
    }
  });
});

describe('rendering decisions', () => {
  it('seed 004: every node starts BACKUP with nopreempt, notify on the sync group only', () => {
    const [ha1, ha2] = renderAll(loadSpec('test/render/specs/seed004.yaml'));
    for (const { text } of [ha1!, ha2!]) {
      expect(text.match(/state BACKUP/g)).toHaveLength(2);
      expect(text).not.toMatch(/state MASTER/);
      expect(text.match(/nopreempt/g)).toHaveLength(2);
      expect(text.match(/notify "/g)).toHaveLength(1);
      expect(text).toMatch(/vrrp_sync_group web_vips \{[^}]*\}\s*notify "\/usr\/local\/bin\/hactl notify/);
      expect(text).not.toMatch(/sync_group_tracking_weight/);
    }
  });

  it('seed 001: the preferred node is MASTER, the other BACKUP, nobody has nopreempt', () => {
    const [web1, web2] = renderAll(loadSpec('test/render/specs/seed001.yaml'));
    expect(web1!.text).toMatch(/state MASTER/);
    expect(web2!.text).toMatch(/state BACKUP/);
    expect(web1!.text + web2!.text).not.toMatch(/nopreempt/);
  });

  it('weighted checks in a sync group come with sync_group_tracking_weight', () => {
    const [a] = renderAll(loadSpec('test/render/specs/dual-vip-weighted.yaml'), 'a');
    expect(a!.text).toMatch(/sync_group_tracking_weight/);
    expect(a!.text).not.toMatch(/vrrp_rt_priority/);
    expect(a!.text).toMatch(/version 3/);
    expect(a!.text).not.toMatch(/auth_pass/);
  });

  it('realtime_priority renders vrrp_rt_priority in global_defs', () => {
    const loaded = loadSpec('test/render/specs/dual-vip-weighted.yaml');
    loaded.spec.election.realtime_priority = 50;
    const [a] = renderAll(loaded, 'a');
    expect(a!.text).toMatch(/global_defs \{[^}]*vrrp_rt_priority 50\n[^}]*\}/);
  });

  it('vrrp_scripts are defined before the instances that track them', () => {
    let withScripts = 0;
    for (const file of specs) {
      for (const { text } of renderAll(loadSpec(`test/render/specs/${file}`))) {
        const lastScript = text.lastIndexOf('vrrp_script ');
        const firstInstance = text.indexOf('vrrp_instance ');
        expect(firstInstance).toBeGreaterThan(0);
        if (!text.includes('track_script')) {
          expect(lastScript).toBe(-1);
          continue;
        }
        withScripts++;
        expect(lastScript).toBeGreaterThan(0);
        expect(lastScript).toBeLessThan(firstInstance);
      }
    }
    expect(withScripts).toBeGreaterThan(0);
  });

  it('node-specific checks are tracked only on their node', () => {
    const [a, b] = renderAll(loadSpec('test/render/specs/dual-vip-weighted.yaml'));
    expect(a!.text).not.toMatch(/chk_db/);
    expect(b!.text).toMatch(/vrrp_script chk_db/);
  });

  it("check lines keep the check budget below keepalived's timeout", () => {
    let checked = 0;
    for (const file of specs) {
      for (const { text } of renderAll(loadSpec(`test/render/specs/${file}`))) {
        const blocks = [...text.matchAll(/--timeout ([\d.]+) --quiet"\n\s+interval \d+\n\s+timeout (\d+)/g)];
        // Every vrrp_script block must be one the pattern reads: a changed layout fails here
        // instead of leaving the loop below with nothing to check.
        expect(blocks).toHaveLength(text.match(/^vrrp_script /gm)?.length ?? 0);
        for (const block of blocks) {
          expect(Number(block[1])).toBeLessThan(Number(block[2]));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe('agent mode (agent.enabled: true)', () => {
  const file = 'test/render/specs/agent-after-catch-up.yaml';
  const rendered = () => renderAll(loadSpec(file));

  it('no vrrp_script and no notify script but the FAULT/STOP fallback: one track_file per check of the node, notify_fifo, the agent tracked', () => {
    const [a, b] = rendered();
    for (const [name, { text }] of [
      ['a', a!],
      ['b', b!],
    ] as const) {
      expect(text).not.toMatch(/vrrp_script|track_script|notify "|script "/);
      // FAULT and STOP are what a dead or frozen agent causes: keepalived demotes through notify then.
      const notify = `/usr/local/bin/hactl notify --spec /etc/hactl/hactl.yaml --node ${name}`;
      expect(text.match(/notify_(fault|stop) "[^"]*"/g)).toEqual([
        `notify_fault "${notify} fault"`,
        `notify_stop "${notify} stop"`,
      ]);
      expect(text).toMatch(
        new RegExp(
          `global_defs \\{[^}]*\\n {4}notify_fifo /run/hactl/agent-${name}/keepalived\\.fifo\\n[^}]*\\}`,
        ),
      );
      expect(text).toContain(
        `track_file hactl_agent {\n    file "/run/hactl/agent-${name}/track/agent"\n    weight 0\n    init_file 1 overwrite\n}`,
      );
      expect(text).toContain(
        'vrrp_track_process hactl_agent_process {\n    process hactl-agent\n    weight 0\n}',
      );
      expect(text.match(/track_process \{\n {8}hactl_agent_process\n {4}\}/g)).toHaveLength(2);
      // Weighted track files inside the sync group need the group's tracking weight.
      expect(text).toMatch(
        /vrrp_sync_group shop_vips \{[^}]*\}\s*sync_group_tracking_weight\n {4}notify_fault/,
      );
      // Every track file is defined before the instances that track it.
      expect(text.lastIndexOf('track_file chk_')).toBeLessThan(text.indexOf('vrrp_instance'));
    }
    // db runs on b only; weight 0 starts KO (1), weight 60 starts KO (0), weight -60 starts KO (1).
    expect(a!.text).not.toMatch(/chk_db/);
    expect(a!.text).toContain(
      'track_file chk_web {\n    file "/run/hactl/agent-a/track/checks/web"\n    weight 0\n    init_file 1\n}',
    );
    expect(a!.text).toContain(
      'track_file chk_warm {\n    file "/run/hactl/agent-a/track/checks/warm"\n    weight 60\n    init_file 0\n}',
    );
    expect(b!.text).toContain(
      'track_file chk_db {\n    file "/run/hactl/agent-b/track/checks/db"\n    weight -60\n    init_file 1\n}',
    );
    expect(
      b!.text.match(
        /track_file \{\n {8}chk_web\n {8}chk_db\n {8}chk_warm\n {8}hactl_agent\n {8}hactl_switchover\n {8}hactl_unpromotable\n {8}hactl_failback\n {4}\}/g,
      ),
    ).toHaveLength(2);
  });

  it('failback after-catch-up: BACKUP everywhere, no nopreempt, and a gate that keeps a fresh node below any peer', () => {
    const [a, b] = rendered();
    for (const { text } of [a!, b!]) {
      expect(text).not.toMatch(/state MASTER|nopreempt/);
      expect(text.match(/state BACKUP/g)).toHaveLength(2);
    }
    // a: at best 200 + 60 = 260 → 254; b at worst 150 − 60 = 90; 254 − 165 = 89 < 90.
    expect(a!.text).toContain(
      'track_file hactl_failback {\n    file "/run/hactl/agent-a/track/failback"\n    weight -1\n    init_file 165 overwrite\n}',
    );
    // b: at best 150 + 60 = 210; a at worst 200 (no negative weight on a); 210 − 11 = 199 < 200.
    expect(b!.text).toMatch(/init_file 11 overwrite/);
  });

  it('failbackGateInit stays within 0..253 (−254 would mean FAULT)', () => {
    const loaded = loadSpec(file);
    loaded.spec.nodes[0]!.priority = 254;
    loaded.spec.nodes[1]!.priority = 1;
    expect(failbackGateInit(loaded.spec, loaded.spec.nodes[0]!)).toBe(253);
    loaded.spec.checks = [];
    loaded.spec.nodes[0]!.priority = 100;
    loaded.spec.nodes[1]!.priority = 200;
    expect(failbackGateInit(loaded.spec, loaded.spec.nodes[0]!)).toBe(0);
    expect(failbackGateInit(loaded.spec, loaded.spec.nodes[1]!)).toBe(101);
  });

  it('without after-catch-up there is no gate; with preempt the preferred node starts MASTER', () => {
    const loaded = loadSpec(file);
    loaded.spec.failback = 'preempt';
    const [a] = renderAll(loaded, 'a');
    expect(a!.text).not.toMatch(/hactl_failback/);
    expect(a!.text).toMatch(/state MASTER/);
  });

  it('hactl-agent.service: the agent for this node, restarted at once, before keepalived, its runtime directory kept', () => {
    const [a, b] = rendered();
    expect(a!.unit).toContain(
      '\nExecStart=/usr/local/bin/hactl agent --spec /etc/hactl/hactl.yaml --node a\n',
    );
    expect(b!.unit).toContain(
      '\nExecStart=/usr/local/bin/hactl agent --spec /etc/hactl/hactl.yaml --node b\n',
    );
    for (const [name, unit] of [
      ['a', a!.unit!],
      ['b', b!.unit!],
    ] as const) {
      const track = `/run/hactl/agent-${name}/track`;
      expect(unit).toMatch(/^\[Unit\]$/m);
      expect(unit).toMatch(/^Before=keepalived\.service$/m);
      expect(unit).toMatch(/^Restart=always$/m);
      expect(unit).toMatch(/^RestartSec=1s$/m);
      expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
      expect(unit).toContain(`\nExecStartPre=/bin/mkdir -p ${track}/checks\n`);
      expect(unit).toContain(
        `\nExecStopPost=-/bin/sh -c 'echo 1 > ${track}/agent.stopped && mv -f ${track}/agent.stopped ${track}/agent'\n`,
      );
      expect(unit).toMatch(/^RuntimeDirectory=hactl$/m);
      expect(unit).toMatch(/^RuntimeDirectoryPreserve=yes$/m);
      expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
      // Nothing from the credentials: the agent reads them itself.
      expect(unit).not.toMatch(/mysql\.cnf|password|Environment/i);
    }
  });

  it('a runtime_dir outside /run gets no RuntimeDirectory= (systemd only manages /run/…)', () => {
    const loaded = loadSpec(file);
    loaded.spec.paths.runtime_dir = '/var/run-hactl';
    const [a] = renderAll(loaded, 'a');
    expect(a!.unit).not.toMatch(/RuntimeDirectory/);
    expect(a!.unit).toMatch(/^ExecStartPre=\/bin\/mkdir -p \/var\/run-hactl\/agent-a\/track\/checks$/m);
    expect(a!.text).toContain('notify_fifo /var/run-hactl/agent-a/keepalived.fifo');
  });

  it("an operator's template that tracks only the agent's own file is refused: the unpromotable gate would be lost", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-tpl-'));
    try {
      const template = join(dir, 'keepalived.conf.mustache');
      const bundled = readFileSync('templates/keepalived.conf.mustache', 'utf8');
      const agentOnly = bundled.replace(
        /\{\{#trackFiles\.length\}\}\n {4}track_file \{[\s\S]*?\{\{\/trackFiles\.length\}\}\n/,
        '    track_file {\n        hactl_agent\n    }\n',
      );
      expect(agentOnly).not.toBe(bundled);
      writeFileSync(template, agentOnly);
      const loaded = loadSpec(file);
      loaded.spec.keepalived.template = template;
      expect(() => renderAll(loaded, 'a')).toThrow(
        `keepalived.template: ${template} does not make the VRRP instances track hactl_unpromotable (agent.enabled: true)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an operator's template that drops the agent's track_process is refused (the fail-safe would be lost)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-tpl-'));
    try {
      const template = join(dir, 'keepalived.conf.mustache');
      const bundled = readFileSync('templates/keepalived.conf.mustache', 'utf8');
      const withoutProcess = bundled.replace(
        /\{\{#trackProcesses\.length\}\}[\s\S]*?\{\{\/trackProcesses\.length\}\}\n/,
        '',
      );
      expect(withoutProcess).not.toBe(bundled);
      writeFileSync(template, withoutProcess);
      const loaded = loadSpec(file);
      loaded.spec.keepalived.template = template;
      expect(() => renderAll(loaded, 'a')).toThrow(
        `keepalived.template: ${template} does not make the VRRP instances track hactl_agent_process (agent.enabled: true)`,
      );
      // The same template is fine without the agent.
      loaded.spec.agent.enabled = false;
      expect(renderAll(loaded, 'a')).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agent.track_process: false renders no process track (keepalived in a network namespace cannot hear process events) and keeps the liveness file', () => {
    const loaded = loadSpec('test/render/specs/agent-after-catch-up.yaml');
    const spec = { ...loaded.spec, agent: { ...loaded.spec.agent, track_process: false } };
    for (const node of renderAll({ ...loaded, spec })) {
      expect(node.text).not.toMatch(/track_process|hactl-agent/);
      expect(node.text).toContain('track_file hactl_agent {');
    }
  });

  it('script mode renders no agent parts and no unit', () => {
    for (const spec of specs.filter((name) => !name.startsWith('agent-'))) {
      for (const node of renderAll(loadSpec(`test/render/specs/${spec}`))) {
        expect(node.unit).toBeUndefined();
        expect(node.text).not.toMatch(/track_file|track_process|notify_fifo|init_file/);
      }
    }
  });
});
