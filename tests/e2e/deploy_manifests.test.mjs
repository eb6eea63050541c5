// The container and Kubernetes deployment (docs/deploy.md): every manifest in deploy/k8s is a
// valid object of its kind (kubernetes-models, the Kubernetes OpenAPI schemas), the pieces
// refer to each other correctly, the image installs every library the binary links, and the
// container's own config (deploy/triage.yaml) validates and serves with its secrets from the
// environment. The image is built only where a Docker engine runs (none does on CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service, ConfigMap, Secret } from 'kubernetes-models/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import OpenAI from 'openai';
import { TRIAGE_BIN, startUpstream, startTriage } from './harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const k8s = join(root, 'deploy/k8s');
const kinds = { Deployment, Service, ConfigMap, Secret, HorizontalPodAutoscaler, PodDisruptionBudget };
const readYaml = (p) => YAML.parseAllDocuments(readFileSync(p, 'utf8')).map((d) => d.toJS());

// What `kubectl apply -k deploy/k8s` would apply (without the name hash of generated maps),
// plus the example Secret.
function manifests() {
  const kust = readYaml(join(k8s, 'kustomization.yaml'))[0];
  const objs = kust.resources.flatMap((f) => readYaml(join(k8s, f)));
  for (const g of kust.configMapGenerator ?? []) {
    const data = {};
    for (const f of g.files) {
      const [key, path] = f.includes('=') ? f.split('=') : [f.split('/').pop(), f];
      data[key] = readFileSync(join(k8s, path), 'utf8');
    }
    objs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
  }
  objs.push(...readYaml(join(k8s, 'secret.example.yaml')));
  return objs;
}
const one = (objs, kind) => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0];
};

test('every manifest is a valid object of its kind', () => {
  const objs = manifests();
  assert.deepEqual(new Set(objs.map((o) => o.kind)), new Set(Object.keys(kinds)));
  for (const o of objs) {
    const Kind = kinds[o.kind];
    assert.ok(Kind, `no validator for kind ${o.kind}`);
    assert.doesNotThrow(() => new Kind(o).validate(), `${o.kind} ${o.metadata?.name}`);
  }
  // The validator is not a rubber stamp: a Deployment without its selector is refused.
  const broken = structuredClone(one(objs, 'Deployment'));
  delete broken.spec.selector;
  assert.throws(() => new Deployment(broken).validate());
});

test('the manifests fit together and with the image and the config', () => {
  const objs = manifests();
  const dep = one(objs, 'Deployment');
  const pod = dep.spec.template;
  const labels = pod.metadata.labels;
  const matches = (sel) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.ok(matches(dep.spec.selector.matchLabels), 'Deployment selector matches its pods');
  assert.ok(matches(one(objs, 'Service').spec.selector), 'Service selects the pods');
  assert.ok(matches(one(objs, 'PodDisruptionBudget').spec.selector.matchLabels), 'PDB selects them');
  const hpa = one(objs, 'HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
  assert.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);

  const c = pod.spec.containers[0];
  const port = c.ports.find((p) => p.name === 'http');
  assert.equal(one(objs, 'Service').spec.ports[0].targetPort, 'http');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');

  // The config the pods mount is deploy/triage.yaml, and the container reads it where mounted.
  const cfgMap = one(objs, 'ConfigMap');
  const cfg = YAML.parse(cfgMap.data['triage.yaml']);
  const mount = c.volumeMounts.find((m) => pod.spec.volumes.find((v) => v.name === m.name)?.configMap);
  assert.equal(`${mount.mountPath}/triage.yaml`, c.args[c.args.indexOf('-c') + 1]);
  assert.equal(cfg.server.port, port.containerPort);
  // The store lives on a writable volume (the root filesystem is read-only).
  assert.ok(c.securityContext.readOnlyRootFilesystem);
  assert.ok(c.volumeMounts.some((m) => cfg.store.path.startsWith(`${m.mountPath}/`) && !m.readOnly));

  // Drain: preStop, then server.shutdown_grace_ms, both inside the grace period.
  const preStopS = Number(c.lifecycle.preStop.exec.command.at(-1));
  assert.ok(preStopS > 0);
  assert.ok(dep.spec.template.spec.terminationGracePeriodSeconds >
            preStopS + cfg.server.shutdown_grace_ms / 1000, 'grace period covers preStop + drain');

  // Every secret the pods read exists in the Secret's shape, and every env var the config
  // names comes from it.
  const secret = one(objs, 'Secret');
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom.secretKeyRef]));
  for (const ref of Object.values(env)) {
    assert.equal(ref.name, secret.metadata.name);
    assert.ok(ref.key in secret.stringData, `secret key ${ref.key}`);
  }
  const named = [cfg.auth.admin_token_env, ...cfg.auth.keys.map((k) => k.secret_env),
                 ...cfg.models.map((m) => m.api_key_env)];
  for (const name of named) assert.ok(name in env, `${name} comes from the Secret`);

  // Non-root, as the image: the Dockerfile's runtime USER is the pod's runAsUser.
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const user = dockerfile.match(/^USER (\d+):(\d+)$/m);
  assert.ok(user, 'the image runs as a numeric non-root user');
  assert.equal(pod.spec.securityContext.runAsUser, Number(user[1]));
  assert.ok(pod.spec.securityContext.runAsNonRoot);
  assert.match(dockerfile, /^HEALTHCHECK [^]*?\/healthz/m);
});

test('the image installs every shared library the binary links', (t) => {
  if (spawnSync('dpkg', ['--version']).status !== 0) return t.skip('no dpkg here');
  const ldd = execFileSync('ldd', [TRIAGE_BIN], { encoding: 'utf8' });
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
  const direct = execFileSync('readelf', ['-d', TRIAGE_BIN], { encoding: 'utf8' })
    .split('\n').map((l) => l.match(/\(NEEDED\).*\[(.+)\]/)?.[1]).filter(Boolean);
  assert.ok(direct.length > 5, 'readelf lists the binary\'s libraries');
  const base = new Set(['libc6', 'libgcc-s1', 'libstdc++6']);  // in debian:12-slim
  // What the runtime stage installs: its listed packages and their direct dependencies.
  const listed = runtime.match(/--no-install-recommends([^&]*)&&/)[1].split(/[\s\\]+/).filter(Boolean);
  // One dpkg call for all packages and one for all files: each call reads dpkg's whole
  // database (about a second), and one call per library had taken 30 s and more.
  const installed = new Set(listed);
  const depends = spawnSync('dpkg-query', ['-W', '-f=${Depends}\n', ...listed],
                            { encoding: 'utf8' }).stdout;
  for (const d of depends.split(/[,\n]/)) installed.add(d.trim().split(/[\s:]/)[0]);
  // Debian 12 is usr-merged: dpkg knows each file under one of /lib and /usr/lib.
  const paths = new Map();  // library -> the paths dpkg may know it by
  for (const lib of direct) {
    const path = ldd.match(new RegExp(`${lib.replace(/[.+]/g, '\\$&')} => (\\S+)`))?.[1];
    assert.ok(path, `${lib} resolves here`);
    paths.set(lib, [path, path.replace(/^\/lib\//, '/usr/lib/'), path.replace(/^\/usr\/lib\//, '/lib/')]);
  }
  const owners = new Map();  // path -> package ("pkg[:arch]: /path" per line; status 1 when some are unknown)
  const searched = spawnSync('dpkg', ['-S', ...new Set([...paths.values()].flat())], { encoding: 'utf8' });
  for (const line of searched.stdout.split('\n')) {
    const m = line.match(/^([^:,\s]+)(?::\S+)?: (\/\S+)$/);
    if (m) owners.set(m[2], m[1]);
  }
  for (const [lib, candidates] of paths) {
    const pkg = candidates.map((c) => owners.get(c)).find(Boolean);
    assert.ok(pkg, `a Debian package owns ${candidates[0]}`);
    if (base.has(pkg) || pkg.startsWith('lib32') || pkg === 'libc6-dev') continue;
    assert.ok(installed.has(pkg), `the runtime stage installs ${pkg} (for ${lib})`);
  }
});

test('the container config validates and serves with its secrets from the environment', async () => {
  const secrets = { OPENAI_API_KEY: 'sk-upstream-test', TRIAGE_ADMIN_TOKEN: 'admin-e2e-0123456789',
                    TRIAGE_CLIENT_KEY: 'sk-client-e2e-0123456789' };
  const file = join(root, 'deploy/triage.yaml');
  const validated = spawnSync(TRIAGE_BIN, ['config', 'validate', file],
                              { encoding: 'utf8', env: { ...process.env, ...secrets } });
  assert.equal(validated.status, 0, validated.stderr + validated.stdout);

  // The same file, with the store in a temp dir and the provider pointed at the test upstream.
  const up = await startUpstream();
  const cfg = YAML.parse(readFileSync(file, 'utf8'));
  for (const m of cfg.models) m.endpoint = up.baseURL;
  const gw = await startTriage((dir) => {
    cfg.store.path = join(dir, 'triage.db');
    return YAML.stringify(cfg);
  }, secrets);
  try {
    for (const probe of ['/healthz', '/readyz']) {
      assert.equal((await fetch(gw.origin + probe)).status, 200, probe);
    }
    const anonymous = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-not-a-key', maxRetries: 0 });
    await assert.rejects(anonymous.chat.completions.create(
      { model: 'chat', messages: [{ role: 'user', content: 'hi' }] }), { status: 401 });
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: secrets.TRIAGE_CLIENT_KEY, maxRetries: 0 });
    const r = await client.chat.completions.create(
      { model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal((await fetch(`${gw.origin}/admin/config`)).status, 401);
    const admin = await fetch(`${gw.origin}/admin/config`,
                              { headers: { authorization: `Bearer ${secrets.TRIAGE_ADMIN_TOKEN}` } });
    assert.equal(admin.status, 200);
  } finally {
    await gw.child.stop();
    gw.cleanup();
    await up.child.stop();
  }
});

test('the image builds where a Docker engine runs', (t) => {
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
    return t.skip('no Docker engine here (docker info failed): the image is not built');
  }
  const built = spawnSync('docker', ['build', '-t', 'triage:e2e', root], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr.slice(-4000));
});
