/**
 * The AI gateway simulator's feature endpoints: code suggestions (v2/v3/v4), Duo Chat
 * (v1/v2 agent) and prompts. Each answers from the model endpoint when one is configured
 * (body or gateway default), else from a canned completion.
 */
import type { Scope } from './gateway-auth.js'
import { chatAgentV1, chatAgentV2 } from './gateway-chat.js'
import { codeV2, codeV3, v3Scope } from './gateway-code.js'
import type { RouteContext } from './gateway-generate.js'
import { prompt, promptScope } from './gateway-prompts.js'
import type { JsonRecord } from './json.js'

export type { GatewayEnv, RouteContext } from './gateway-generate.js'

export interface Route {
  pattern: RegExp
  scope: (body: JsonRecord, params: string[]) => Scope | undefined
  handle: (rc: RouteContext) => Promise<void>
}

/** POST routes needing auth (when enabled) and a JSON object body. */
export const ROUTES: Route[] = [
  { pattern: /^\/v2\/(?:code\/)?completions$/, scope: () => 'complete_code', handle: codeV2('completion') },
  { pattern: /^\/v2\/code\/generations$/, scope: () => 'generate_code', handle: codeV2('generation') },
  { pattern: /^\/v3\/code\/completions$/, scope: v3Scope, handle: codeV3('v3') },
  { pattern: /^\/v4\/code\/suggestions$/, scope: v3Scope, handle: codeV3('v4') },
  { pattern: /^\/v2\/chat\/agent$/, scope: () => 'duo_chat', handle: chatAgentV2 },
  { pattern: /^\/v1\/chat\/agent$/, scope: () => 'duo_chat', handle: chatAgentV1 },
  { pattern: /^\/(v1|v2)\/prompts\/(.+)$/, scope: promptScope, handle: prompt }
]
