import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
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
