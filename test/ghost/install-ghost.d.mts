export declare const GHOST_VERSION: string;
export declare function ghostCacheDir(version?: string): string;
export declare function installGhost(options?: {
  version?: string;
  dir?: string;
  log?: (text: string) => void;
}): Promise<{ dir: string; installed: boolean; seconds: number }>;
