// The revocation feed (SPEC §5): the paged snapshot of live revocations,
// then GET /revocations/stream from its cursor, resumed with Last-Event-ID
// after any disconnect or jwtd restart; a `reset`, or a cursor jwtd does
// not know (its store was replaced), reloads the snapshot. Every event and
// heartbeat (at least one a second) marks the view fresh: that bounds
// staleness.
import { createParser } from 'eventsource-parser';

import { getWithRetry } from './http.js';

export class Feed {
  constructor({ url, authorization, index, fetch: f = fetch }) {
    this.url = url;
    this.authorization = authorization;
    this.index = index;
    this.fetch = f;
    this.position = 0;
    this.freshAt = 0;
    this.closed = false;
    this.abort = null;
  }

  headers(extra = {}) {
    return this.authorization ? { authorization: this.authorization, ...extra } : extra;
  }

  apply(item) {
    if (!this.index.insert(item)) console.warn(`jwtd-express: revocation of unknown kind ${item.kind} skipped`);
  }

  /** Loads every live revocation; fresh as of when the walk began. */
  async loadSnapshot() {
    const began = Date.now();
    let after = null;
    for (;;) {
      const q = new URLSearchParams({ limit: '10000' });
      if (after) q.set('after', after);
      const r = await getWithRetry(this.fetch, `${this.url}/revocations?${q}`, { headers: this.headers() });
      if (!r.ok) throw new Error(`snapshot answered ${r.status}`);
      const page = await r.json();
      for (const item of page.items) this.apply(item);
      if (page.next === null || page.next === undefined) {
        this.position = Math.max(this.position, Number(page.cursor));
        this.freshAt = Math.max(this.freshAt, began);
        return;
      }
      after = page.next;
    }
  }

  /** Follows the stream until close(). */
  async follow() {
    let backoff = 100;
    let reload = false;
    while (!this.closed) {
      try {
        if (reload) {
          await this.loadSnapshot();
          reload = false;
        }
        const end = await this.streamOnce(() => { backoff = 100; });
        if (end === 'reload') reload = true;
      } catch {
        // Interrupted (jwtd down, network): resume after a pause.
      }
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, backoff).unref?.());
      backoff = Math.min(backoff * 2, 2000);
    }
  }

  async streamOnce(connected) {
    this.abort = new AbortController();
    const r = await this.fetch(`${this.url}/revocations/stream`, {
      headers: this.headers({ 'last-event-id': String(this.position), accept: 'text/event-stream' }),
      signal: this.abort.signal,
    });
    if (r.status === 400) return 'reload';
    if (!r.ok || !r.body) throw new Error(`stream answered ${r.status}`);
    connected();
    let end = 'resume';
    const parser = createParser({
      onEvent: (e) => {
        if (e.event === 'revocation') {
          this.apply(JSON.parse(e.data));
          const id = Number(e.id);
          if (Number.isFinite(id)) this.position = Math.max(this.position, id);
        } else if (e.event === 'reset') {
          end = 'reload';
          this.abort?.abort();
          return;
        }
        this.freshAt = Date.now();
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of r.body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (end === 'reload') break;
      }
    } catch (e) {
      if (end !== 'reload') throw e;
    }
    return end;
  }

  close() {
    this.closed = true;
    this.abort?.abort();
  }
}
