// Replay protection for client assertions, shared by every gateway process through Redis.
// SMART client-confidential-asymmetric.md: the server SHALL check that the jti has not been
// encountered before for the given iss within the maximum allowed JWT lifetime.
import type { Redis } from 'ioredis';

export class JtiReplayGuard {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {}

  /**
   * Records (iss, jti) for `ttlMs`; false when it was already recorded. SET NX is atomic, so two
   * processes racing with the same assertion cannot both win.
   */
  async claim(iss: string, jti: string, ttlMs: number): Promise<boolean> {
    const key = `${this.keyPrefix}jti:${iss}:${jti}`;
    const result = await this.redis.set(key, '1', 'PX', Math.max(1000, Math.ceil(ttlMs)), 'NX');
    return result === 'OK';
  }
}
