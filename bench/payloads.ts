/**
 * What the benchmark sends and what the simulated upstream answers: a GitLab code-completion
 * request to the AI gateway as the instance sends it (headers included), ~1.5 KB of JSON, and
 * the gateway's ~600 B JSON answer; plus an OpenAI-style SSE chat stream.
 */

import { gatewayClaims, makeJwtKeys, signJwt } from '../src/sim/jwt.js'

export const COMPLETIONS_PATH = '/v2/code/completions'
export const SSE_PATH = '/v1/chat/completions'

const ABOVE = [
  'class UsersController < ApplicationController',
  '  before_action :authenticate_user!',
  '  before_action :set_user, only: %i[show edit update destroy]',
  '',
  '  def index',
  '    @users = User.order(created_at: :desc).page(params[:page]).per(25)',
  '    respond_to do |format|',
  '      format.html',
  '      format.json { render json: @users }',
  '    end',
  '  end',
  '',
  '  def show',
  '    @projects = @user.projects.includes(:namespace).limit(10)',
  '  end',
  '',
  '  def create',
  '    @user = User.new(user_params)',
  '    if @user.save',
  '      UserMailer.with(user: @user).welcome_email.deliver_later',
  '      redirect_to @user, notice: "User was successfully created."',
  '    else',
  '      render :new, status: :unprocessable_entity',
  '    end',
  '  end',
  '',
  '  def update',
  '    if @user.update(user_params)',
  '      redirect_to @user, notice: "User was successfully updated."',
  '    else',
  '      render :edit, status: :unprocessable_entity',
  '    end',
  '  end',
  '',
  '  private',
  '',
  '  def set_user',
  '    @user = User.find(params[:id])',
  '  end',
  '',
  '  def user_params',
  '    params.require(:user).permit('
].join('\n')

const BELOW = '\n  end\nend\n'

/** The instance's v2 code-completion request (direct connection to a self-hosted model). */
export const COMPLETIONS_BODY = Buffer.from(JSON.stringify({
  project_path: 'acme/platform/web-app',
  project_id: 4242,
  current_file: {
    file_name: 'app/controllers/users_controller.rb',
    language_identifier: 'ruby',
    content_above_cursor: ABOVE,
    content_below_cursor: BELOW
  },
  stream: false,
  choices_count: 0,
  context: [],
  prompt_version: 1,
  model_provider: 'litellm',
  model_endpoint: 'http://litellm.internal:4000/v1',
  model_name: 'codestral-22b',
  model_identifier: 'custom_openai/codestral-22b',
  model_api_key: 'sk-bench0000000000000000000000000000'
}))

/**
 * The instance's token, with the claims GitLab mints for the AI gateway (src/sim/jwt.ts):
 * audience, validity, realm and instance. The gateway checks them (movax01h/ai-gateway
 * ai_gateway/api/middleware/authentication.py, through gitlab_cloud_connector's authenticate:
 * the audience, and "Header mismatch 'X-Gitlab-Realm'" and the like when a claim and its
 * X-Gitlab-* header differ), so the headers below carry the same ids. Until 2026-12-08 the bench
 * sent a token with `iss` and `sub` only, so every request it sent predicted a rejection
 * (`token_audience_mismatch`): each record was a diagnosed failure, which healthy traffic is not.
 * Valid for an hour from the start of the process, longer than any bench runs.
 */
const TOKEN_CLAIMS = gatewayClaims()
const TOKEN = signJwt(TOKEN_CLAIMS, makeJwtKeys().privateKey)

/** Headers GitLab sends to the AI gateway (the ids match the token's claims). */
export const COMPLETIONS_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  authorization: `Bearer ${TOKEN}`,
  'x-gitlab-authentication-type': 'oidc',
  'x-gitlab-instance-id': TOKEN_CLAIMS.gitlab_instance_id,
  'x-gitlab-global-user-id': TOKEN_CLAIMS.gitlab_global_user_id,
  'x-gitlab-host-name': 'gitlab.example.com',
  'x-gitlab-realm': 'self-managed',
  'x-gitlab-version': '18.5.0',
  'x-gitlab-feature-enabled-by-namespace-ids': '12,34',
  'x-gitlab-language-server-version': '7.21.0',
  'x-request-id': '01JBENCH0000000000000000000',
  'user-agent': 'gitlab-workhorse/v18.5.0'
}

/** The gateway's answer to a code completion: ~600 B of JSON. */
export const COMPLETIONS_RESPONSE = Buffer.from(JSON.stringify({
  id: 'id',
  model: {
    engine: 'litellm',
    name: 'codestral-22b',
    lang: 'ruby',
    tokens_consumption_metadata: { input_tokens: 412, output_tokens: 38, context_tokens_sent: 0, context_tokens_used: 0 },
    region: null
  },
  experiments: [],
  object: 'text_completion',
  created: 1732240000,
  choices: [{
    text: ':name, :email, :username, :bio, :location, :website_url, :avatar, :time_zone, :preferred_language)\n  end\n\n  def authorize_admin!\n    head :forbidden unless current_user.admin?\n  end',
    index: 0,
    finish_reason: 'length'
  }],
  metadata: { model: 'codestral-22b', timestamp: 1732240000, enabled_feature_flags: [] }
}))

/** Body of the streamed chat request (the model hop speaks the OpenAI API). */
export const SSE_BODY = Buffer.from(JSON.stringify({
  model: 'codestral-22b',
  stream: true,
  max_tokens: 256,
  temperature: 0.2,
  messages: [
    { role: 'system', content: 'You are a code completion tool.' },
    { role: 'user', content: 'Complete the method body.' }
  ]
}))

export const SSE_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  authorization: 'Bearer sk-bench0000000000000000000000000000',
  accept: 'text/event-stream'
}

/** Headers the SSE request uses to tell the upstream how to stream. */
export const H_CHUNKS = 'x-bench-chunks'
export const H_INTERVAL = 'x-bench-interval-ms'

export function sseChunk (i: number): Buffer {
  return Buffer.from(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1732240000,"model":"codestral-22b","choices":[{"index":0,"delta":{"content":"tok${i} "},"finish_reason":null}]}\n\n`)
}

export const SSE_FINAL = Buffer.from(
  'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1732240000,"model":"codestral-22b","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":20,"total_tokens":44}}\n\n' +
  'data: [DONE]\n\n'
)
