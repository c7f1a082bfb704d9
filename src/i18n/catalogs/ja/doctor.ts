/**
 * doctor catalog (ja): the same keys and placeholders as ../en/doctor.ts. Check names follow the
 * support engineer playbook's Japanese terms (docs/glossary.ja.md); next steps in ます form.
 * Values from the network (addresses, error codes, response bodies) are never translated.
 */
export const doctor = {
  check: {
    gateway: {
      dns: 'AIゲートウェイのDNS',
      tcp: 'AIゲートウェイへのTCP接続',
      tls: 'AIゲートウェイのTLS証明書',
      healthz: 'AIゲートウェイのヘルス',
      ready: 'AIゲートウェイの準備状態',
      route: 'AIゲートウェイのルート'
    },
    model: {
      url_v1: 'モデルエンドポイントの/v1',
      dns: 'モデルのDNS',
      tcp: 'モデルへのTCP接続',
      tls: 'モデルのTLS証明書',
      health: 'モデルのヘルス(/health)',
      health_liveliness: 'モデルのヘルス(LiteLLM)',
      models: 'モデルの一覧(/v1/models)',
      name: 'モデル名',
      chat_completion: 'チャット補完',
      route: 'モデルのルート'
    }
  },
  mark: {
    pass: 'OK',
    warn: '警告',
    fail: '失敗',
    skip: 'スキップ'
  },
  separator: {
    problems: '、',
    sentences: '{{a}}{{b}}'
  },
  evidence: {
    endsV1: '{{url}}は/v1で終わっています',
    notEndsV1: '{{url}}は/v1で終わっていません',
    resolves: '{{host}}は{{addresses}}に名前解決されます',
    notResolves: '{{host}}を名前解決できません({{code}})',
    connectFailed: '{{host}}:{{port}}への接続: {{code}}',
    connected: '{{host}}:{{port}}に接続しました',
    tlsTimeout: '時間内にTLSハンドシェイクが完了しませんでした',
    tlsFailed: 'TLSハンドシェイクに失敗しました: {{error}}',
    chainLink: '{{subject}}(発行者{{issuer}}、{{until}}まで有効)',
    chain: 'チェーン: {{chain}}',
    notTrusted: '信頼されていません: {{code}}',
    hostMismatch: 'ホスト名が一致しません: {{message}}',
    ipNotInSan: 'IP {{ip}}は証明書のsubjectAltNameに含まれていません',
    expired: '{{date}}に期限切れになりました',
    tlsProblems: '{{problems}}。{{chain}}',
    expiresIn: 'あと{{days}}日で期限切れになります。{{chain}}',
    tlsOk: '信頼でき、ホスト名が一致し、あと{{days}}日有効です。{{chain}}',
    serves: '提供しているモデル: {{models}}',
    servesNone: '提供しているモデル: (一覧にありません)',
    nameServed: '「{{name}}」は提供されています',
    nameNotServed: '「{{name}}」は提供されているモデル({{models}})に含まれていません',
    chatOk: 'POST {{path}} 200({{ms}}ミリ秒)',
    chatError: '{{error}}({{ms}}ミリ秒後)',
    chatSkipped: '実行していません(トークンを消費するため): --chatを追加してください',
    chatNotFromApi: 'プロキシからは実行しません。トークンを消費し、モデルのAPIキーが必要なためです(duo-diag-proxy doctor --chatで実行できます)',
    urlV1NotSeen: 'プロキシからは確認できません。GitLabのモデルエンドポイントはこのルートを指しており、そのアップストリームは{{upstream}}です。/v1のないリクエストは、記録されたやり取りに表示されます(原因model_endpoint_missing_v1)',
    noRoute: {
      gateway: 'AIゲートウェイのホップにルートが設定されていません',
      model: 'モデルのホップにルートが設定されていません(モデルサーバーの前にhop: modelのルートを置きます)'
    }
  },
  step: {
    gatewayHealthz: 'AIゲートウェイが正常ではありません。コンテナのログを確認します(docker logs <ai-gateway-container>)。',
    gatewayReady: '準備状態のチェックが失敗しました。応答ボディに失敗したチェックが示されています(多くの場合、AIゲートウェイからモデルまたはGitLabにアクセスできません)。',
    setV1: 'GitLabのモデルエンドポイントを{{url}}に設定します。',
    modelHealth: 'モデルサーバーが正常ではありません。ログを確認します。',
    modelLiveliness: '/health(vLLM)と/health/liveliness(LiteLLM)のどちらも200を返しませんでした。',
    dns: 'ホスト名と、AIゲートウェイが実行されている場所からのDNSを確認します。',
    refused: '{{host}}:{{port}}で待ち受けているものがありません。サービスを起動するか、ポートを修正します。コンテナ内では、localhostはそのコンテナ自身を指します。',
    routing: 'ホストへのファイアウォールとルーティングを確認します。',
    speaksTls: 'ポートがTLSを使用しているか確認します。',
    plainHttp: 'ポートはプレーンなHTTPを使用しています。http://を使用します。',
    tlsConfig: '証明書とTLSの設定を確認します。',
    selfSigned: '自己署名証明書です。GitLabではAIゲートウェイは自己署名証明書をサポートしていません。CAが署名した証明書を使用するか、そのCAを信頼します(ここでは--ca-file、AIゲートウェイではSSL_CERT_FILE / REQUESTS_CA_BUNDLE)。',
    trustCa: '発行元のCAを信頼するか(ここでは--ca-file、AIゲートウェイではSSL_CERT_FILE / REQUESTS_CA_BUNDLE)、公的に信頼されている証明書を使用します。',
    hostName: 'URLで使用しているホスト名で証明書を発行します(subjectAltName)。',
    renew: '証明書を更新します。',
    renewSoon: '近いうちに証明書を更新します。',
    apiKey: 'モデルサーバーはAPIキーを要求しています。--api-keyを指定し、GitLabのモデル設定にもAPIキーを設定します。',
    openAiApi: 'エンドポイントがOpenAI APIを提供しているか確認します。',
    modelName: 'GitLabのモデル識別子を、提供されているモデル名に設定します。',
    modelEndpoint: 'モデルエンドポイントを確認します。',
    chatFailed: 'モデルはヘルスチェックには応答しますが、APIには応答しません。ログとモデル名を確認します。',
    chatDown: 'モデルの応答が遅すぎるか、停止しています。'
  }
}
