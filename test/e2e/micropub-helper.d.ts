/** The part of micropub-helper 1.6.2 (CommonJS, untyped) that test/e2e/micropub.test.ts drives. */
declare module "micropub-helper" {
  interface MicropubOptions {
    me?: string;
    scope?: string;
    token?: string;
    clientId?: string;
    redirectUri?: string;
    state?: string;
    authEndpoint?: string;
    tokenEndpoint?: string;
    micropubEndpoint?: string;
  }
  /** What every method rejects with. */
  export interface MicropubHelperError {
    message: string;
    status: number | null;
    error: unknown;
  }
  export default class Micropub {
    constructor(options?: MicropubOptions);
    options: Required<MicropubOptions>;
    getAuthUrl(): Promise<string>;
    getEndpointsFromUrl(url: string): Promise<{ auth: string; token: string; micropub: string }>;
    getToken(code: string): Promise<string>;
    verifyToken(): Promise<true>;
    query(type: string): Promise<any>;
    create(post: object, type?: "json" | "form" | "multipart"): Promise<string | null | object>;
    update(url: string, update: object): Promise<unknown>;
    delete(url: string): Promise<unknown>;
  }
}
