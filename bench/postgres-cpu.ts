// CPU seconds (user + system) of every PostgreSQL process on this machine, from /proc (Linux):
// what a benchmark's database work cost, which other load moves far less than wall time.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ

export function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND; // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}
