import { encodeNpy, type Matrix } from '../../shaders/npy.ts';

/** A small HTTP client for tests: one account, signed in by cookie or an API key. */
export class TestClient {
  cookie = '';
  key = '';
  accountId = '';

  constructor(readonly url: string) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const auth: Record<string, string> = this.key ? { authorization: `Bearer ${this.key}` } : this.cookie ? { cookie: this.cookie, origin: this.url } : {};
    const raw = body instanceof Uint8Array;
    return fetch(this.url + path, {
      method,
      headers: { ...auth, ...(body !== undefined && !raw ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body),
    });
  }

  async json<T = any>(method: string, path: string, body?: unknown, expectStatus?: number): Promise<T> {
    const res = await this.call(method, path, body);
    const data = await res.json();
    if (expectStatus !== undefined ? res.status !== expectStatus : !res.ok) {
      throw new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(data)}`);
    }
    return data as T;
  }

  /** Signs up a new account and keeps its session cookie. */
  static async signup(url: string, email: string, password = 'correct horse battery'): Promise<TestClient> {
    const client = new TestClient(url);
    const res = await client.call('POST', '/api/auth/signup', { email, password });
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
    client.cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    client.accountId = (await res.json()).account.id;
    return client;
  }

  /** Makes an API key and switches this client to it. */
  async useNewKey(name = 'test'): Promise<string> {
    const { secret } = await this.json('POST', '/api/keys', { name }, 201);
    this.key = secret;
    return secret;
  }

  async uploadMatrix(m: Matrix): Promise<string> {
    return this.upload(encodeNpy(m));
  }

  /** Stores bytes as a blob of this account; its sha256. */
  async upload(bytes: Uint8Array): Promise<string> {
    const res = await this.call('PUT', '/api/blobs', bytes);
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    return (await res.json()).sha256;
  }

  async waitForJob(id: string, timeoutMs = 120_000): Promise<any> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.json('GET', `/api/jobs/${id}`);
      if (['done', 'failed', 'cancelled'].includes(job.state)) return job;
      if (Date.now() > until) throw new Error(`job ${id} still ${job.state} (${job.progress.verified}/${job.progress.units})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
