// Our published profiles (StructureDefinitions in profiles/), loaded once at start and looked
// up by canonical URL (with or without a |version suffix).
import type { StructureDefinition } from '@medplum/fhirtypes';

export class ProfileCache {
  private readonly byUrl = new Map<string, StructureDefinition>();

  constructor(profiles: StructureDefinition[]) {
    for (const sd of profiles) {
      if (!sd.url) continue;
      this.byUrl.set(sd.url, sd);
      if (sd.version) this.byUrl.set(`${sd.url}|${sd.version}`, sd);
    }
  }

  get(url: string): StructureDefinition | undefined {
    return this.byUrl.get(url) ?? this.byUrl.get(url.split('|')[0]);
  }

  get size(): number {
    return new Set(this.byUrl.values()).size;
  }

  urls(): string[] {
    return [...new Set([...this.byUrl.values()].map((sd) => sd.url as string))];
  }
}
