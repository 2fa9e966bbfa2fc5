// The seed article's own stack, as its design implies: Express,
// jsonwebtoken with a shared secret, and the blacklist in Redis, read by
// verifyToken on every request before jwt.verify. The baseline of
// bench/bench.mjs. PORT, SECRET, REDIS_URL from the environment.
import express from 'express';
import jwt from 'jsonwebtoken';
import { createClient } from 'redis';

const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
await redis.connect();
const secret = process.env.SECRET;
const prefix = process.env.PREFIX ?? 'seed:blacklist:';
const app = express();
app.use(express.json());

app.post('/logout', (req, res) => {
  jwt.verify(req.body?.token, secret, async (err) => {
    if (err) return res.status(400).json({ error: 'Invalid token' });
    await redis.set(prefix + req.body.token, '1');
    return res.status(200).json({ message: 'Logged out successfully' });
  });
});

const verifyToken = async (req, res, next) => {
  const { authorization } = req.headers;
  const token = authorization && authorization.split(' ')[1];
  if (!token || (await redis.get(prefix + token))) return res.status(401).json({ error: 'Invalid token' });
  return jwt.verify(token, secret, (err) => (err ? res.status(401).json({ error: 'Invalid token' }) : next()));
};

app.get('/protected', verifyToken, (req, res) => {
  res.status(200).json({ message: 'Access granted' });
});

app.listen(Number(process.env.PORT), '127.0.0.1', () => console.error('seed app ready'));
