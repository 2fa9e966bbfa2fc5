// The seed article's app (../../../shared/seed-article.txt), with its
// blacklist replaced by jwtd: `POST /logout` asks jwtd to revoke the token
// (durably, for every service that trusts jwtd), and `verifyToken` is the
// jwtd-express middleware, which refuses that token milliseconds later
// without a request to jwtd per call.
//
//   JWTD_ADMIN_TOKEN=dev-admin-token-0123 cargo run --release -- serve     # jwtd, in the repository root
//   JWTD_ADMIN_TOKEN=dev-admin-token-0123 node clients/express/example/app.js
//
// Environment: JWTD_URL (default http://127.0.0.1:8080), JWTD_ISSUER
// (default: the URL), JWTD_CLIENT_ID/JWTD_CLIENT_SECRET (a client with the
// feed right) or JWTD_ADMIN_TOKEN, PORT (default 3000).
import { pathToFileURL } from 'node:url';

import express from 'express';

import { jwtd } from '../index.js';

export function createApp(options) {
  const app = express();
  app.use(express.json());

  // Logout: jwtd verifies the token and revokes it for real.
  app.post('/logout', async (req, res) => {
    const r = await fetch(`${options.url}/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: req.body?.token }),
    });
    res.status(r.status).json(await r.json());
  });

  // The seed's verifyToken, with the blacklist check done properly.
  const verifyToken = jwtd(options);

  app.get('/protected', verifyToken, (req, res) => {
    res.status(200).json({ message: 'Access granted', user: req.auth.preferred_username });
  });

  // The same answer with no check at all (the benchmark's baseline).
  app.get('/open', (req, res) => {
    res.status(200).json({ message: 'Access granted', user: 'anyone' });
  });

  app.verifyToken = verifyToken;
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.env.JWTD_URL ?? 'http://127.0.0.1:8080';
  const app = createApp({
    url,
    issuer: process.env.JWTD_ISSUER ?? url,
    clientId: process.env.JWTD_CLIENT_ID,
    clientSecret: process.env.JWTD_CLIENT_SECRET,
    adminToken: process.env.JWTD_ADMIN_TOKEN,
  });
  const port = Number(process.env.PORT ?? 3000);
  app.listen(port, '127.0.0.1', () => console.error(`seed app listening on 127.0.0.1:${port}`));
}
