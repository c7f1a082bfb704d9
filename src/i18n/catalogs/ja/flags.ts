/**
 * Flags catalog (ja): what each flag of the vocabulary (src/diagnosis/flags.ts) means. Keys are
 * the flag names: add, never rename. Placeholders ({{name}}) are the same in every language.
 * Descriptions are notes (no final 。), like the English ones; terms as in docs/glossary.ja.md.
 */
export const flags = {
  // From the upstream's status.
  unauthorized: 'アップストリームからの401: 呼び出し元が認証されていません',
  forbidden: 'アップストリームからの403: 認証されていますが、許可されていません(シート、ライセンス、スコープ)',
  not_found: 'アップストリームからの404: パスの誤り。多くの場合、モデルのURLに/v1がないか、不明なモデルです',
  rate_limited: 'アップストリームからの429',
  model_error: 'AIゲートウェイの421: その背後のモデルがエラーを返しました',
  upstream_error: 'アップストリームからの5xx、またはより具体的なフラグのない転送エラー',
  client_error: 'アップストリームからのその他の4xx',
  // Transport: the proxy got no (complete) response.
  connection_refused: 'アップストリームのアドレスでTCP接続を受け付けるものがありませんでした',
  network_unreachable: 'アップストリームのホストへのルートがありません(ネットワークまたはファイアウォール)',
  dns_failure: 'アップストリームのホスト名を名前解決できませんでした',
  timeout: 'connect_timeout、headers_timeout、body_timeout、model_timeoutのいずれか(常にそのいずれかと一緒に設定されます)',
  connect_timeout: 'アップストリームへのTCP/TLS接続が時間内に確立されませんでした',
  headers_timeout: 'アップストリームはリクエストを受け付けましたが、時間内に応答ヘッダーを送信しませんでした',
  body_timeout: 'アップストリームが応答ボディの途中で応答しなくなりました',
  model_timeout: 'AIゲートウェイからモデルへの呼び出し: AIゲートウェイが自身のモデルタイムアウト(litellmのタイムアウト。チャットとコードでは30秒、プロンプトでは60秒)でモデルとの接続を切断しました',
  tls_error: 'TLSハンドシェイクに失敗しました: 信頼されていない証明書、自己署名証明書、期限切れの証明書、ホスト名が一致しない証明書、または平文のHTTPのポートへのTLS接続',
  connection_reset: '応答ヘッダーの前に、アップストリームが接続を閉じたかリセットしました',
  // Streams.
  stream_aborted: '応答ヘッダーの後にアップストリームが停止しました: 呼び出し元は途中で切れたボディを受け取りました',
  stream_truncated: 'ストリーミング応答は正常に終了しましたが、最後のイベント([DONE]、finish_reason、stream_end)がありませんでした。最後のイベントがない形式では設定されません',
  stream_error: 'ストリーミング応答は200を返しましたが、エラーイベントが含まれていました(その後の接続の状態は問いません)',
  // The caller.
  client_aborted: '応答が完了する前に呼び出し元が切断しました(コード補完では正常な動作です)',
  // Predictions from the caller's GitLab token (decoded, never verified or stored).
  token_expired: 'ベアラートークン(JWT)のexpを過ぎています(許容される時刻のずれを超えています)',
  token_not_yet_valid: 'ベアラートークン(JWT)のnbfが未来の時刻です: 時刻がずれています',
  token_audience_mismatch: 'ベアラートークン(JWT)がgitlab-ai-gateway向けではありません',
  token_issuer_mismatch: 'ベアラートークン(JWT)が、設定されたURL(AIGW_GITLAB_URL)とは別のGitLabのURLから発行されています',
  token_header_mismatch: 'クレームが対応するX-Gitlab-*ヘッダーと一致しません(AIゲートウェイ自身が行うチェック)',
  // Time.
  slow: '最初のバイトまでの時間または所要時間が、ルートのしきい値を超えています(しきい値は、GitLab自身のタイムアウトより十分前に警告します)',
  // The route's configuration.
  tls_unverified: 'ルートがアップストリームの証明書を検証しません(tls.insecure_skip_verify)',
  // Staging.
  fault_injected: 'フォールトインジェクションルールがこの応答を作成しました(x-duo-diag-faultにルール名があります)',
  // Requests the proxy refused itself.
  request_rejected: 'プロキシが転送前にリクエストを拒否しました(不正な形式、または上限の超過)'
}
