// An application that installs @heartbeat/web and bundles it (the e2e test bundles this with
// esbuild, resolving the package through its package.json `exports`).
import { init } from '@heartbeat/web';

window.startFromBundle = async (endpoint) => {
  const hb = await init({ endpoint, serviceName: 'e2e-bundle', exportIntervalMs: 86400000 });
  const send = hb.outcome('bundle.send');
  for (let i = 0; i < 4; i++) send.success();
  return hb.flush();
};
