//! The built-in catalog: the free-tier providers Freeway knows out of the box, their models
//! and their published default limits, as plain data. `store::catalog::seed_builtin` writes
//! it to the database at start; an admin adds credentials, and may edit or disable any row.
//!
//! Limits change often upstream. These are defaults: an admin can override them, and the
//! router learns tighter ones from `Retry-After`, `x-ratelimit-*` headers and 429 bodies.
//! Bump [`CATALOG_VERSION`] whenever this data changes, so that upgraded rows say which
//! catalog wrote them.

/// The version of the data below; stored on every built-in row the seed writes.
pub const CATALOG_VERSION: i32 = 2;
const _: () = assert!(CATALOG_VERSION > 0, "catalog versions start at 1");

/// Default per-attempt timeout; slow providers get more.
const DEFAULT_TIMEOUT_MS: i32 = 60_000;

/// What a model does: the wire's enum, stored in `models.modality`.
pub use freeway_wire::pool::Modality;

/// Request and token limits; `None` means the provider publishes none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
}

impl Limits {
    pub const NONE: Limits = Limits {
        rpm: None,
        rph: None,
        rpd: None,
        tpm: None,
        tpd: None,
    };

    pub const fn rpm(self, n: i32) -> Self {
        Limits {
            rpm: Some(n),
            ..self
        }
    }

    pub const fn rph(self, n: i32) -> Self {
        Limits {
            rph: Some(n),
            ..self
        }
    }

    pub const fn rpd(self, n: i32) -> Self {
        Limits {
            rpd: Some(n),
            ..self
        }
    }

    pub const fn tpm(self, n: i64) -> Self {
        Limits {
            tpm: Some(n),
            ..self
        }
    }

    pub const fn tpd(self, n: i64) -> Self {
        Limits {
            tpd: Some(n),
            ..self
        }
    }
}

/// An embedding model's vector space: vectors of different families are never mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedding {
    pub family: &'static str,
    pub dimensions: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinModel {
    /// The provider's own model id, sent upstream unchanged.
    pub model_id: &'static str,
    pub modality: Modality,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding: Option<Embedding>,
    pub limits: Limits,
    /// Lower is preferred.
    pub priority: i32,
    /// Capability tier, 1 = strongest, for the `smart` strategy; `None`: unranked.
    pub tier: Option<i16>,
}

impl BuiltinModel {
    const fn new(model_id: &'static str, modality: Modality, priority: i32) -> Self {
        BuiltinModel {
            model_id,
            modality,
            supports_tools: false,
            supports_vision: false,
            supports_json: false,
            context_window: None,
            embedding: None,
            limits: Limits::NONE,
            priority,
            tier: None,
        }
    }

    const fn tier(self, tier: i16) -> Self {
        BuiltinModel {
            tier: Some(tier),
            ..self
        }
    }

    const fn context(self, tokens: i32) -> Self {
        BuiltinModel {
            context_window: Some(tokens),
            ..self
        }
    }

    const fn tools(self) -> Self {
        BuiltinModel {
            supports_tools: true,
            ..self
        }
    }

    const fn vision(self) -> Self {
        BuiltinModel {
            supports_vision: true,
            ..self
        }
    }

    const fn json(self) -> Self {
        BuiltinModel {
            supports_json: true,
            ..self
        }
    }

    const fn limits(self, limits: Limits) -> Self {
        BuiltinModel { limits, ..self }
    }
}

const fn chat(model_id: &'static str, priority: i32, context: i32) -> BuiltinModel {
    BuiltinModel::new(model_id, Modality::Chat, priority).context(context)
}

const fn embedding(
    model_id: &'static str,
    family: &'static str,
    dimensions: i32,
    context: i32,
) -> BuiltinModel {
    BuiltinModel {
        embedding: Some(Embedding { family, dimensions }),
        ..BuiltinModel::new(model_id, Modality::Embedding, 100).context(context)
    }
}

const fn media(model_id: &'static str, modality: Modality) -> BuiltinModel {
    BuiltinModel::new(model_id, modality, 100)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinProvider {
    /// `providers.name`: the id used in `provider/model` and in the admin API.
    pub id: &'static str,
    pub display_name: &'static str,
    pub base_url: &'static str,
    /// Called without a credential. Seeded disabled: see `store::catalog`.
    pub keyless: bool,
    pub timeout_ms: i32,
    /// Account-wide caps, shared by every credential (more keys add no capacity).
    pub limits: Limits,
    /// IANA zone whose midnight resets the provider's daily limits.
    pub daily_reset_tz: &'static str,
    /// Lower is preferred among providers serving the same model.
    pub priority: i32,
    pub models: &'static [BuiltinModel],
}

const fn provider(
    id: &'static str,
    display_name: &'static str,
    base_url: &'static str,
    priority: i32,
    models: &'static [BuiltinModel],
) -> BuiltinProvider {
    BuiltinProvider {
        id,
        display_name,
        base_url,
        keyless: false,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        limits: Limits::NONE,
        daily_reset_tz: "UTC",
        priority,
        models,
    }
}

// Per-model limit sets, from the providers' published free tiers.
const GEMINI_FLASH: Limits = Limits::NONE.rpm(10).rpd(20).tpm(250_000);
const GEMINI_FLASH_LITE: Limits = Limits::NONE.rpm(15).rpd(20).tpm(250_000);
const GEMINI_PRO: Limits = Limits::NONE.rpm(5).rpd(50).tpm(250_000);
const GEMINI_GEMMA: Limits = Limits::NONE.rpm(15).rpd(1_000).tpm(250_000);
const GROQ_GPT_OSS: Limits = Limits::NONE.rpm(30).rpd(1_000).tpm(8_000).tpd(200_000);
const CEREBRAS: Limits = Limits::NONE.rpm(5).rpd(2_400).tpm(30_000).tpd(1_000_000);
// Mistral, GitHub, Cohere and OpenCode Zen publish one per-key limit for every model.
const MISTRAL: Limits = Limits::NONE.rpm(2).tpm(500_000);
const OPENROUTER_FREE: Limits = Limits::NONE.rpm(20).rpd(200);
const GITHUB: Limits = Limits::NONE.rpm(10).rpd(50);
const COHERE: Limits = Limits::NONE.rpm(20).rpd(33);
const ZHIPU_FLASH: Limits = Limits::NONE.tpd(1_000_000);
const OPENCODE_ZEN: Limits = Limits::NONE.rpm(20).rpd(200);

/// GitHub Models' free tier caps a request's input at 8000 tokens whatever the model allows.
const GITHUB_INPUT_CAP: i32 = 8_000;

const GEMINI: BuiltinProvider = BuiltinProvider {
    // Limits are per Google Cloud project, not per key; quotas reset at midnight Pacific.
    daily_reset_tz: "America/Los_Angeles",
    ..provider(
        "gemini",
        "Google Gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        30,
        &[
            chat("gemini-2.5-flash", 20, 1_048_576)
                .tier(2)
                .tools()
                .vision()
                .json()
                .limits(GEMINI_FLASH),
            chat("gemini-2.5-flash-lite", 30, 1_048_576)
                .tier(3)
                .tools()
                .vision()
                .json()
                .limits(GEMINI_FLASH_LITE),
            chat("gemini-2.5-pro", 40, 1_048_576)
                .tier(1)
                .tools()
                .vision()
                .json()
                .limits(GEMINI_PRO),
            chat("gemma-3-27b-it", 70, 131_072)
                .vision()
                .limits(GEMINI_GEMMA),
            embedding("gemini-embedding-001", "gemini-embedding-001", 3072, 2_048),
        ],
    )
};

const GROQ: BuiltinProvider = provider(
    "groq",
    "Groq",
    "https://api.groq.com/openai/v1",
    10,
    &[
        chat("llama-3.1-8b-instant", 50, 131_072)
            .tier(4)
            .tools()
            .json()
            .limits(Limits::NONE.rpm(30).rpd(14_400).tpm(6_000).tpd(500_000)),
        chat("llama-3.3-70b-versatile", 20, 131_072)
            .tier(3)
            .tools()
            .json()
            .limits(Limits::NONE.rpm(30).rpd(1_000).tpm(12_000).tpd(100_000)),
        chat("meta-llama/llama-4-scout-17b-16e-instruct", 30, 131_072)
            .tools()
            .vision()
            .json()
            .limits(Limits::NONE.rpm(30).rpd(1_000).tpm(30_000).tpd(1_000_000)),
        chat("openai/gpt-oss-120b", 10, 131_072)
            .tier(2)
            .tools()
            .json()
            .limits(GROQ_GPT_OSS),
        chat("openai/gpt-oss-20b", 40, 131_072)
            .tools()
            .json()
            .limits(GROQ_GPT_OSS),
        chat("qwen/qwen3-32b", 30, 131_072)
            .tools()
            .json()
            .limits(Limits::NONE.rpm(60).rpd(1_000).tpm(6_000).tpd(500_000)),
        media("whisper-large-v3", Modality::Transcription),
        media("whisper-large-v3-turbo", Modality::Transcription),
    ],
);

const CEREBRAS_PROVIDER: BuiltinProvider = provider(
    "cerebras",
    "Cerebras",
    "https://api.cerebras.ai/v1",
    20,
    &[
        // The free tier serves shorter contexts than the models allow.
        chat("gpt-oss-120b", 10, 65_536)
            .tier(2)
            .tools()
            .json()
            .limits(CEREBRAS),
        chat("llama3.1-8b", 50, 8_192)
            .tier(4)
            .tools()
            .json()
            .limits(CEREBRAS),
        chat("qwen-3-235b-a22b-instruct-2507", 20, 65_536)
            .tier(2)
            .tools()
            .json()
            .limits(CEREBRAS),
        chat("zai-glm-4.6", 30, 65_536)
            .tools()
            .json()
            .limits(Limits::NONE.rpm(10).rpd(100)),
    ],
);

const MISTRAL_PROVIDER: BuiltinProvider = provider(
    "mistral",
    "Mistral AI",
    "https://api.mistral.ai/v1",
    40,
    &[
        chat("mistral-small-latest", 40, 131_072)
            .tools()
            .vision()
            .json()
            .limits(MISTRAL),
        chat("mistral-medium-latest", 30, 131_072)
            .tools()
            .vision()
            .json()
            .limits(MISTRAL),
        chat("mistral-large-latest", 30, 131_072)
            .tier(2)
            .tools()
            .json()
            .limits(MISTRAL),
        chat("codestral-latest", 50, 262_144)
            .tools()
            .json()
            .limits(MISTRAL),
        chat("devstral-small-latest", 50, 131_072)
            .tools()
            .json()
            .limits(MISTRAL),
        chat("magistral-small-latest", 60, 131_072)
            .tools()
            .json()
            .limits(MISTRAL),
        chat("ministral-8b-latest", 60, 131_072)
            .tools()
            .json()
            .limits(MISTRAL),
        embedding("mistral-embed", "mistral-embed", 1024, 8_192).limits(MISTRAL),
    ],
);

const OPENROUTER: BuiltinProvider = BuiltinProvider {
    // Account-wide: 1000 requests a day with credits bought (50 without); more keys do
    // not add capacity.
    limits: Limits::NONE.rpd(1_000),
    ..provider(
        "openrouter",
        "OpenRouter (free models)",
        "https://openrouter.ai/api/v1",
        60,
        &[
            chat("meta-llama/llama-3.3-70b-instruct:free", 40, 131_072)
                .tools()
                .limits(OPENROUTER_FREE),
            chat("deepseek/deepseek-chat-v3.1:free", 40, 163_840)
                .tools()
                .limits(OPENROUTER_FREE),
            chat("qwen/qwen3-coder:free", 50, 262_144)
                .tools()
                .limits(OPENROUTER_FREE),
            chat("google/gemma-3-27b-it:free", 70, 131_072)
                .vision()
                .limits(OPENROUTER_FREE),
            chat("openai/gpt-oss-20b:free", 60, 131_072)
                .tools()
                .limits(OPENROUTER_FREE),
        ],
    )
};

const GITHUB_MODELS: BuiltinProvider = provider(
    "github",
    "GitHub Models",
    "https://models.github.ai/inference",
    50,
    &[
        chat("openai/gpt-4o", 40, GITHUB_INPUT_CAP)
            .tools()
            .vision()
            .json()
            .limits(GITHUB),
        chat("openai/gpt-4.1", 40, GITHUB_INPUT_CAP)
            .tools()
            .vision()
            .json()
            .limits(GITHUB),
        embedding(
            "openai/text-embedding-3-small",
            "text-embedding-3-small",
            1536,
            8_191,
        )
        .limits(GITHUB),
        embedding(
            "openai/text-embedding-3-large",
            "text-embedding-3-large",
            3072,
            8_191,
        )
        .limits(GITHUB),
    ],
);

const NVIDIA: BuiltinProvider = BuiltinProvider {
    // 40 RPM for the whole account; large models answer slowly.
    limits: Limits::NONE.rpm(40),
    timeout_ms: 180_000,
    ..provider(
        "nvidia",
        "NVIDIA NIM",
        "https://integrate.api.nvidia.com/v1",
        80,
        &[
            chat("meta/llama-3.3-70b-instruct", 40, 131_072)
                .tools()
                .json(),
            chat("deepseek-ai/deepseek-v3.1", 50, 131_072)
                .tools()
                .json(),
            chat("qwen/qwen3-coder-480b-a35b-instruct", 50, 262_144)
                .tools()
                .json(),
            chat("moonshotai/kimi-k2-instruct", 50, 131_072)
                .tools()
                .json(),
            embedding("nvidia/nv-embedqa-e5-v5", "nv-embedqa-e5-v5", 1024, 512),
            embedding(
                "nvidia/llama-nemotron-embed-1b-v2",
                "llama-nemotron-embed-1b-v2",
                2048,
                8_192,
            ),
            media("black-forest-labs/flux.1-schnell", Modality::Image),
        ],
    )
};

const COHERE_PROVIDER: BuiltinProvider = provider(
    "cohere",
    "Cohere",
    "https://api.cohere.ai/compatibility/v1",
    70,
    &[
        chat("command-a-03-2025", 40, 256_000)
            .tools()
            .json()
            .limits(COHERE),
        chat("command-r-plus-08-2024", 50, 128_000)
            .tools()
            .json()
            .limits(COHERE),
        chat("command-r-08-2024", 60, 128_000)
            .tools()
            .json()
            .limits(COHERE),
        embedding("embed-v4.0", "embed-v4.0", 1536, 128_000).limits(COHERE),
    ],
);

// The credential secret is `account_id:token`: the adapter puts the account id into
// `{account_id}` and sends the token as the bearer. The free tier is metered in "neurons"
// (10K a day per account), which no request or token limit expresses, so no caps are set;
// the router learns them from 429s.
const CLOUDFLARE: BuiltinProvider = provider(
    "cloudflare",
    "Cloudflare Workers AI",
    "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
    100,
    &[
        chat("@cf/meta/llama-3.3-70b-instruct-fp8-fast", 50, 24_000).tools(),
        chat("@cf/openai/gpt-oss-120b", 50, 128_000).tools(),
        embedding("@cf/baai/bge-m3", "bge-m3", 1024, 8_192),
        embedding(
            "@cf/google/embeddinggemma-300m",
            "embeddinggemma-300m",
            768,
            2_048,
        ),
        embedding(
            "@cf/qwen/qwen3-embedding-0.6b",
            "qwen3-embedding-0.6b",
            1024,
            8_192,
        ),
        media("@cf/black-forest-labs/flux-1-schnell", Modality::Image),
        media("@cf/myshell-ai/melotts", Modality::Speech),
        media("@cf/openai/whisper-large-v3-turbo", Modality::Transcription),
    ],
);

const ZHIPU: BuiltinProvider = provider(
    "zhipu",
    "Zhipu AI (GLM)",
    "https://open.bigmodel.cn/api/paas/v4",
    110,
    &[
        chat("glm-4.5-flash", 50, 131_072)
            .tools()
            .json()
            .limits(ZHIPU_FLASH),
        chat("glm-4.7-flash", 40, 200_000)
            .tools()
            .json()
            .limits(ZHIPU_FLASH),
    ],
);

const HUGGINGFACE: BuiltinProvider = provider(
    "huggingface",
    "Hugging Face Inference Providers",
    "https://router.huggingface.co/v1",
    120,
    &[
        chat("meta-llama/Llama-3.3-70B-Instruct", 60, 131_072).tools(),
        chat("openai/gpt-oss-120b", 60, 131_072).tools(),
        embedding("BAAI/bge-m3", "bge-m3", 1024, 8_192),
    ],
);

const OLLAMA_CLOUD: BuiltinProvider = BuiltinProvider {
    timeout_ms: 120_000,
    ..provider(
        "ollama-cloud",
        "Ollama Cloud",
        "https://ollama.com/v1",
        130,
        &[
            chat("gpt-oss:120b", 60, 131_072).tools(),
            chat("qwen3-coder:480b", 60, 262_144).tools(),
        ],
    )
};

const OPENCODE: BuiltinProvider = provider(
    "opencode-zen",
    "OpenCode Zen",
    "https://opencode.ai/zen/v1",
    140,
    &[
        chat("grok-code", 60, 256_000).tools().limits(OPENCODE_ZEN),
        chat("big-pickle", 70, 200_000).tools().limits(OPENCODE_ZEN),
    ],
);

const LLM7: BuiltinProvider = BuiltinProvider {
    // A per-hour limit for the account: RPM cannot express it.
    limits: Limits::NONE.rph(100),
    ..provider(
        "llm7",
        "LLM7",
        "https://api.llm7.io/v1",
        150,
        &[
            chat("gpt-4.1-nano-2025-04-14", 80, 131_072).tools(),
            chat("mistral-small-3.1-24b-instruct-2503", 80, 32_768),
        ],
    )
};

const KILO: BuiltinProvider = BuiltinProvider {
    keyless: true,
    // Per client IP: every Freeway instance behind one address shares it.
    limits: Limits::NONE.rph(200),
    ..provider(
        "kilo",
        "Kilo Gateway (free models)",
        "https://api.kilo.ai/api/gateway/v1",
        160,
        &[
            chat("minimax/minimax-m2:free", 80, 204_800).tools(),
            chat("x-ai/grok-code-fast-1", 80, 256_000).tools(),
        ],
    )
};

const POLLINATIONS: BuiltinProvider = BuiltinProvider {
    keyless: true,
    ..provider(
        "pollinations",
        "Pollinations",
        "https://gen.pollinations.ai/v1",
        170,
        &[
            chat("openai", 90, 32_768),
            media("flux", Modality::Image),
            media("openai-audio", Modality::Speech),
        ],
    )
};

const SAMBANOVA: BuiltinProvider = provider(
    "sambanova",
    "SambaNova Cloud",
    "https://api.sambanova.ai/v1",
    90,
    &[
        chat("Meta-Llama-3.3-70B-Instruct", 40, 131_072)
            .tools()
            .json(),
        chat("DeepSeek-V3.1", 50, 131_072).tools().json(),
    ],
);

/// Every built-in provider, roughly in order of preference.
pub static PROVIDERS: &[BuiltinProvider] = &[
    GROQ,
    CEREBRAS_PROVIDER,
    GEMINI,
    MISTRAL_PROVIDER,
    GITHUB_MODELS,
    OPENROUTER,
    COHERE_PROVIDER,
    NVIDIA,
    SAMBANOVA,
    CLOUDFLARE,
    ZHIPU,
    HUGGINGFACE,
    OLLAMA_CLOUD,
    OPENCODE,
    LLM7,
    KILO,
    POLLINATIONS,
];

/// The built-in provider named `id`, if any.
pub fn find(id: &str) -> Option<&'static BuiltinProvider> {
    PROVIDERS.iter().find(|p| p.id == id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The embedding families of the reference (`free-providers.md`), kept here on purpose
    /// rather than derived from the data they check.
    const FAMILIES: &[(&str, i32)] = &[
        ("gemini-embedding-001", 3072),
        ("text-embedding-3-small", 1536),
        ("text-embedding-3-large", 3072),
        ("bge-m3", 1024),
        ("nv-embedqa-e5-v5", 1024),
        ("llama-nemotron-embed-1b-v2", 2048),
        ("embeddinggemma-300m", 768),
        ("qwen3-embedding-0.6b", 1024),
        ("mistral-embed", 1024),
        ("embed-v4.0", 1536),
    ];

    /// The `providers.name` check constraint of the schema.
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        name.len() <= 63
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    }

    #[test]
    fn the_catalog_covers_the_reference_providers() {
        assert!(PROVIDERS.len() >= 15, "{} providers", PROVIDERS.len());
        for id in [
            "gemini",
            "groq",
            "cerebras",
            "mistral",
            "openrouter",
            "github",
            "nvidia",
            "cohere",
            "cloudflare",
            "zhipu",
            "huggingface",
            "ollama-cloud",
            "opencode-zen",
            "llm7",
            "kilo",
            "pollinations",
            "sambanova",
        ] {
            assert!(find(id).is_some(), "{id} is missing");
        }
    }

    #[test]
    fn ids_are_unique_and_valid() {
        let mut providers = BTreeSet::new();
        let mut routes = BTreeSet::new();
        for p in PROVIDERS {
            assert!(providers.insert(p.id), "provider {} twice", p.id);
            assert!(valid_name(p.id), "provider id {:?}", p.id);
            assert!(!p.display_name.is_empty(), "{}", p.id);
            assert!(!p.models.is_empty(), "{} has no model", p.id);
            for m in p.models {
                assert!(
                    routes.insert((p.id, m.model_id)),
                    "{}/{} twice",
                    p.id,
                    m.model_id
                );
                assert!(!m.model_id.is_empty() && m.model_id.len() <= 300);
                assert!(m.context_window.is_none_or(|c| c > 0), "{}", m.model_id);
            }
        }
    }

    #[test]
    fn providers_are_https_with_sane_settings() {
        for p in PROVIDERS {
            assert!(
                p.base_url.starts_with("https://"),
                "{}: {}",
                p.id,
                p.base_url
            );
            assert!(!p.base_url.ends_with('/'), "{}: {}", p.id, p.base_url);
            assert!(p.timeout_ms >= 60_000, "{}", p.id);
            assert!(
                p.daily_reset_tz.parse::<chrono_tz::Tz>().is_ok(),
                "{}: {}",
                p.id,
                p.daily_reset_tz
            );
        }
        assert_eq!(
            find("gemini").unwrap().daily_reset_tz,
            "America/Los_Angeles"
        );
        assert_eq!(find("nvidia").unwrap().timeout_ms, 180_000);
        assert_eq!(find("ollama-cloud").unwrap().timeout_ms, 120_000);
        assert_eq!(find("openrouter").unwrap().limits.rpd, Some(1_000));
        assert_eq!(find("llm7").unwrap().limits.rph, Some(100));
        assert!(
            find("cloudflare")
                .unwrap()
                .base_url
                .contains("{account_id}")
        );
    }

    #[test]
    fn some_providers_are_keyless() {
        let keyless: Vec<_> = PROVIDERS
            .iter()
            .filter(|p| p.keyless)
            .map(|p| p.id)
            .collect();
        assert!(!keyless.is_empty());
        assert!(keyless.contains(&"kilo") && keyless.contains(&"pollinations"));
        assert!(!find("groq").unwrap().keyless);
    }

    #[test]
    fn embedding_models_match_the_reference_families() {
        let mut seen = BTreeSet::new();
        for p in PROVIDERS {
            for m in p.models {
                match (m.modality, m.embedding) {
                    (Modality::Embedding, Some(e)) => {
                        let expected = FAMILIES
                            .iter()
                            .find(|(family, _)| *family == e.family)
                            .unwrap_or_else(|| {
                                panic!("{}: unknown family {}", m.model_id, e.family)
                            });
                        assert_eq!(e.dimensions, expected.1, "{}/{}", p.id, m.model_id);
                        seen.insert(e.family);
                    }
                    (Modality::Embedding, None) => {
                        panic!("{}/{} has no family", p.id, m.model_id)
                    }
                    (_, Some(_)) => panic!("{}/{} is not an embedding model", p.id, m.model_id),
                    (_, None) => {}
                }
            }
        }
        assert_eq!(
            seen.len(),
            FAMILIES.len(),
            "families without a model: {seen:?}"
        );
    }

    #[test]
    fn every_modality_is_served() {
        for modality in [
            Modality::Chat,
            Modality::Embedding,
            Modality::Image,
            Modality::Speech,
            Modality::Transcription,
        ] {
            assert!(
                PROVIDERS
                    .iter()
                    .flat_map(|p| p.models)
                    .any(|m| m.modality == modality),
                "no {} model",
                modality.as_str()
            );
        }
    }
}
