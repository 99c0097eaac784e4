"""Every string visitors see that the proxy writes itself, in eight languages.

The banner and placeholders (TEXTS), the titles and descriptions of the usual categories
(CATEGORY_TEXTS, used when a config gives none), and the words of a cookie lifetime
(`localise_retention`: "13 months (_ga), 24 hours (_gid)" in any of them). Operators
override any banner text per language in the config (`banner.texts`); a language the config
lists that has no built-in texts must supply them all. `{service}`, `{category}` and
`{categories}` are filled in by the page's script or the renderer.

Written as a native copywriter would for a legal notice: formal address (Sie, usted, Lei,
u), European Portuguese avoiding "você", Polish impersonal or polite forms.
"""

from __future__ import annotations

import re

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy choices",
        "body": "We and our partners use cookies for the purposes below. Accept or refuse "
        "them, or choose by category. You can change your mind at any time with "
        "“Manage cookies”.",
        "purposes": "Purposes:",
        "privacy": "Privacy policy",
        "cookie-policy": "Cookie policy",
        "dpo": "Data protection officer",
        "accept-all": "Accept all",
        "reject-all": "Reject all",
        "customize": "Customise",
        "save": "Save my choices",
        "close": "Close: refuse all but strictly necessary cookies",
        "close-decided": "Close",
        "manage": "Manage cookies",
        "categories": "Cookie categories",
        "always-on": "Always on",
        "services": "Services",
        "vendor": "Provider",
        "cookies": "Cookies",
        "retention": "Kept for",
        "blocked": "{service} is blocked because you have not accepted “{category}” cookies.",
        "load-once": "Load this once",
        "always-allow": "Always allow {service}",
        "error": "Your choice could not be saved. Please try again.",
        "narrowed": "Your choice lists more services than can be stored: some you allowed one "
        "by one were left off, as shown below. Allow a whole category to include them all.",
        "gpc": "Your browser sent a Global Privacy Control signal. We honour it: {categories} "
        "stay off.",
        "reask": "Our cookie policy has changed since your last choice: please choose again.",
        "my-records": "My consent records",
        "erase": "Erase my records and my choice",
        "do-not-sell": "Do Not Sell or Share My Personal Information",
        "opt-out": (
            "Optional cookies are on until you opt out: choose “Reject all”, or "
            "untick what you refuse and save. Your browser's Global Privacy "
            "Control signal counts as an opt-out."
        ),
        "declaration": "Cookies and services on this site",
        "service": "Service",
        "purpose": "Purpose",
        "lifetime": "Retention",
        "this-site": "This site",
        "site-purpose": "Makes the site work and remembers your cookie choices.",
        "no-services": "No service in this category at present.",
    },
    "fr": {
        "title": "Vos choix en matière de cookies",
        "body": "Nous et nos partenaires utilisons des cookies pour les finalités "
        "ci-dessous. Acceptez-les, refusez-les ou choisissez par catégorie. Vous pouvez "
        "changer d'avis à tout moment avec « Gérer les cookies ».",
        "purposes": "Finalités :",
        "privacy": "Politique de confidentialité",
        "cookie-policy": "Politique de cookies",
        "dpo": "Délégué à la protection des données",
        "accept-all": "Tout accepter",
        "reject-all": "Tout refuser",
        "customize": "Personnaliser",
        "save": "Enregistrer mes choix",
        "close": "Fermer : refuser tout sauf les cookies strictement nécessaires",
        "close-decided": "Fermer",
        "manage": "Gérer les cookies",
        "categories": "Catégories de cookies",
        "always-on": "Toujours actifs",
        "services": "Services",
        "vendor": "Fournisseur",
        "cookies": "Cookies",
        "retention": "Conservés",
        "blocked": "{service} est bloqué car vous n'avez pas accepté les cookies « {category} ».",
        "load-once": "Charger cette fois",
        "always-allow": "Toujours autoriser {service}",
        "error": "Votre choix n'a pas pu être enregistré. Veuillez réessayer.",
        "narrowed": "Votre choix énumère plus de services qu'il n'est possible d'enregistrer "
        ": certains que vous aviez autorisés un par un ont été retirés, comme indiqué "
        "ci-dessous. Autorisez une catégorie entière pour les inclure tous.",
        "gpc": "Votre navigateur a envoyé un signal Global Privacy Control. Nous le respectons : "
        "{categories} restent désactivés.",
        "reask": "Notre politique de cookies a changé depuis votre dernier choix : merci de "
        "choisir à nouveau.",
        "my-records": "Mes enregistrements de consentement",
        "erase": "Effacer mes enregistrements et mon choix",
        "do-not-sell": "Ne pas vendre ni partager mes informations personnelles",
        "opt-out": (
            "Les cookies facultatifs sont actifs tant que vous ne vous y "
            "opposez pas : choisissez « Tout refuser », ou décochez ce que vous "
            "refusez et enregistrez. Le signal Global Privacy Control de votre "
            "navigateur vaut opposition."
        ),
        "declaration": "Cookies et services utilisés sur ce site",
        "service": "Service",
        "purpose": "Finalité",
        "lifetime": "Durée de conservation",
        "this-site": "Ce site",
        "site-purpose": ("Fait fonctionner le site et mémorise vos choix en matière de cookies."),
        "no-services": "Aucun service dans cette catégorie pour le moment.",
    },
    "de": {
        "title": "Ihre Datenschutzeinstellungen",
        "body": "Wir und unsere Partner verwenden Cookies für die unten genannten Zwecke. "
        "Sie können alle akzeptieren, alle ablehnen oder nach Kategorien wählen. Ihre "
        "Entscheidung können Sie jederzeit über „Cookies verwalten“ ändern.",
        "purposes": "Zwecke:",
        "privacy": "Datenschutzerklärung",
        "cookie-policy": "Cookie-Richtlinie",
        "dpo": "Datenschutzbeauftragter",
        "accept-all": "Alle akzeptieren",
        "reject-all": "Alle ablehnen",
        "customize": "Anpassen",
        "save": "Auswahl speichern",
        "close": "Schließen: alle Cookies außer den unbedingt erforderlichen ablehnen",
        "close-decided": "Schließen",
        "manage": "Cookies verwalten",
        "categories": "Cookie-Kategorien",
        "always-on": "Immer aktiv",
        "services": "Dienste",
        "vendor": "Anbieter",
        "cookies": "Cookies",
        "retention": "Speicherdauer",
        "blocked": "{service} ist blockiert, weil Sie Cookies der Kategorie „{category}“ "
        "nicht zugestimmt haben.",
        "load-once": "Einmal laden",
        "always-allow": "{service} immer erlauben",
        "error": "Ihre Auswahl konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
        "narrowed": "Ihre Auswahl nennt mehr Dienste, als gespeichert werden können: Einige, "
        "die Sie einzeln erlaubt hatten, wurden weggelassen, wie unten angezeigt. Erlauben "
        "Sie eine ganze Kategorie, um alle einzuschließen.",
        "gpc": "Ihr Browser hat ein Global-Privacy-Control-Signal gesendet. Wir respektieren "
        "es: Cookies für {categories} bleiben deaktiviert.",
        "reask": "Unsere Cookie-Richtlinie hat sich seit Ihrer letzten Entscheidung geändert. "
        "Bitte treffen Sie Ihre Auswahl erneut.",
        "my-records": "Meine Einwilligungsnachweise",
        "erase": "Meine Nachweise und meine Auswahl löschen",
        "do-not-sell": "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
        "opt-out": (
            "Optionale Cookies sind aktiv, bis Sie widersprechen: Wählen Sie "
            "„Alle ablehnen“ oder entfernen Sie die Häkchen bei allem, was Sie "
            "ablehnen, und speichern Sie. Das Global-Privacy-Control-Signal "
            "Ihres Browsers gilt als Widerspruch."
        ),
        "declaration": "Cookies und Dienste auf dieser Website",
        "service": "Dienst",
        "purpose": "Zweck",
        "lifetime": "Speicherdauer",
        "this-site": "Diese Website",
        "site-purpose": "Sorgt für den Betrieb der Website und speichert Ihre Cookie-Auswahl.",
        "no-services": "Derzeit keine Dienste in dieser Kategorie.",
    },
    "es": {
        "title": "Sus opciones de privacidad",
        "body": "Nosotros y nuestros socios utilizamos cookies para las finalidades "
        "indicadas a continuación. Puede aceptarlas, rechazarlas o elegir por categoría, "
        "y cambiar de opinión en cualquier momento desde «Gestionar cookies».",
        "purposes": "Finalidades:",
        "privacy": "Política de privacidad",
        "cookie-policy": "Política de cookies",
        "dpo": "Delegado de protección de datos",
        "accept-all": "Aceptar todas",
        "reject-all": "Rechazar todas",
        "customize": "Personalizar",
        "save": "Guardar mis preferencias",
        "close": "Cerrar: rechazar todas las cookies salvo las estrictamente necesarias",
        "close-decided": "Cerrar",
        "manage": "Gestionar cookies",
        "categories": "Categorías de cookies",
        "always-on": "Siempre activas",
        "services": "Servicios",
        "vendor": "Proveedor",
        "cookies": "Cookies",
        "retention": "Duración",
        "blocked": "{service} está bloqueado porque no ha aceptado las cookies de «{category}».",
        "load-once": "Cargar solo esta vez",
        "always-allow": "Permitir siempre {service}",
        "error": "No se ha podido guardar su elección. Inténtelo de nuevo.",
        "narrowed": "Su elección enumera más servicios de los que se pueden guardar: se han "
        "omitido algunos que había permitido uno a uno, como se indica a continuación. "
        "Permita una categoría completa para incluirlos todos.",
        "gpc": "Su navegador ha enviado una señal Global Privacy Control. La respetamos: las "
        "cookies de {categories} permanecen desactivadas.",
        "reask": "Nuestra política de cookies ha cambiado desde su última elección. Le rogamos "
        "que vuelva a elegir.",
        "my-records": "Mis registros de consentimiento",
        "erase": "Borrar mis registros y mi elección",
        "do-not-sell": "No vender ni compartir mi información personal",
        "opt-out": (
            "Las cookies opcionales están activas hasta que usted se oponga: "
            "elija «Rechazar todas» o desmarque lo que rechaza y guarde. La "
            "señal Global Privacy Control de su navegador cuenta como "
            "oposición."
        ),
        "declaration": "Cookies y servicios utilizados en este sitio",
        "service": "Servicio",
        "purpose": "Finalidad",
        "lifetime": "Plazo de conservación",
        "this-site": "Este sitio",
        "site-purpose": "Hace que el sitio funcione y recuerda sus preferencias de cookies.",
        "no-services": "Por ahora no hay ningún servicio en esta categoría.",
    },
    "it": {
        "title": "Le sue scelte sulla privacy",
        "body": "Noi e i nostri partner utilizziamo i cookie per le finalità indicate di "
        "seguito. Può accettarli, rifiutarli o scegliere per categoria, e cambiare idea "
        "in qualsiasi momento con «Gestisci i cookie».",
        "purposes": "Finalità:",
        "privacy": "Informativa sulla privacy",
        "cookie-policy": "Informativa sui cookie",
        "dpo": "Responsabile della protezione dei dati",
        "accept-all": "Accetta tutti",
        "reject-all": "Rifiuta tutti",
        "customize": "Personalizza",
        "save": "Salva le mie scelte",
        "close": "Chiudi: rifiuta tutti i cookie tranne quelli strettamente necessari",
        "close-decided": "Chiudi",
        "manage": "Gestisci i cookie",
        "categories": "Categorie di cookie",
        "always-on": "Sempre attivi",
        "services": "Servizi",
        "vendor": "Fornitore",
        "cookies": "Cookie",
        "retention": "Durata",
        "blocked": "{service} è bloccato perché non ha accettato i cookie della categoria "
        "«{category}».",
        "load-once": "Carica solo questa volta",
        "always-allow": "Consenti sempre {service}",
        "error": "Non è stato possibile salvare la sua scelta. La preghiamo di riprovare.",
        "narrowed": "La sua scelta elenca più servizi di quanti se ne possano salvare: alcuni "
        "che aveva consentito singolarmente sono stati esclusi, come indicato di seguito. "
        "Consenta un'intera categoria per includerli tutti.",
        "gpc": "Il suo browser ha inviato un segnale Global Privacy Control. Lo rispettiamo: "
        "i cookie di {categories} restano disattivati.",
        "reask": "La nostra informativa sui cookie è cambiata dalla sua ultima scelta. La "
        "preghiamo di scegliere di nuovo.",
        "my-records": "I miei registri del consenso",
        "erase": "Cancella i miei registri e la mia scelta",
        "do-not-sell": "Non vendere né condividere le mie informazioni personali",
        "opt-out": (
            "I cookie facoltativi restano attivi finché lei non si oppone: "
            "scelga «Rifiuta tutti» oppure tolga la spunta a ciò che rifiuta e "
            "salvi. Il segnale Global Privacy Control del suo browser vale come "
            "opposizione."
        ),
        "declaration": "Cookie e servizi utilizzati su questo sito",
        "service": "Servizio",
        "purpose": "Finalità",
        "lifetime": "Durata di conservazione",
        "this-site": "Questo sito",
        "site-purpose": "Fa funzionare il sito e ricorda le sue scelte sui cookie.",
        "no-services": "Al momento non ci sono servizi in questa categoria.",
    },
    "nl": {
        "title": "Uw privacykeuzes",
        "body": "Wij en onze partners gebruiken cookies voor de hieronder genoemde "
        "doeleinden. U kunt ze accepteren, weigeren of per categorie kiezen, en uw keuze "
        "altijd wijzigen via ‘Cookies beheren’.",
        "purposes": "Doeleinden:",
        "privacy": "Privacyverklaring",
        "cookie-policy": "Cookiebeleid",
        "dpo": "Functionaris voor gegevensbescherming",
        "accept-all": "Alles accepteren",
        "reject-all": "Alles weigeren",
        "customize": "Aanpassen",
        "save": "Mijn keuzes opslaan",
        "close": "Sluiten: alle cookies weigeren behalve de strikt noodzakelijke",
        "close-decided": "Sluiten",
        "manage": "Cookies beheren",
        "categories": "Cookiecategorieën",
        "always-on": "Altijd actief",
        "services": "Diensten",
        "vendor": "Aanbieder",
        "cookies": "Cookies",
        "retention": "Bewaartermijn",
        "blocked": "{service} is geblokkeerd omdat u de cookies voor ‘{category}’ niet hebt "
        "geaccepteerd.",
        "load-once": "Eenmalig laden",
        "always-allow": "{service} altijd toestaan",
        "error": "Uw keuze kon niet worden opgeslagen. Probeer het opnieuw.",
        "narrowed": "Uw keuze noemt meer diensten dan kunnen worden opgeslagen: enkele die u "
        "afzonderlijk had toegestaan, zijn weggelaten, zoals hieronder weergegeven. Sta een "
        "hele categorie toe om ze allemaal op te nemen.",
        "gpc": "Uw browser heeft een Global Privacy Control-signaal verzonden. Wij respecteren "
        "dat: cookies voor {categories} blijven uitgeschakeld.",
        "reask": "Ons cookiebeleid is gewijzigd sinds uw laatste keuze. Wilt u opnieuw kiezen?",
        "my-records": "Mijn toestemmingsgegevens",
        "erase": "Mijn gegevens en mijn keuze wissen",
        "do-not-sell": "Mijn persoonsgegevens niet verkopen of delen",
        "opt-out": (
            "Optionele cookies staan aan totdat u bezwaar maakt: kies ‘Alles "
            "weigeren’ of vink uit wat u weigert en sla op. Het Global Privacy "
            "Control-signaal van uw browser geldt als bezwaar."
        ),
        "declaration": "Cookies en diensten op deze website",
        "service": "Dienst",
        "purpose": "Doel",
        "lifetime": "Bewaartermijn",
        "this-site": "Deze website",
        "site-purpose": "Zorgt dat de website werkt en onthoudt uw cookiekeuze.",
        "no-services": "Momenteel zijn er geen diensten in deze categorie.",
    },
    "pt": {
        "title": "As suas escolhas de privacidade",
        "body": "Nós e os nossos parceiros utilizamos cookies para as finalidades "
        "indicadas abaixo. Pode aceitá-los, recusá-los ou escolher por categoria, e "
        "mudar de ideias a qualquer momento em «Gerir cookies».",
        "purposes": "Finalidades:",
        "privacy": "Política de privacidade",
        "cookie-policy": "Política de cookies",
        "dpo": "Encarregado da proteção de dados",
        "accept-all": "Aceitar todos",
        "reject-all": "Recusar todos",
        "customize": "Personalizar",
        "save": "Guardar as minhas escolhas",
        "close": "Fechar: recusar todos os cookies exceto os estritamente necessários",
        "close-decided": "Fechar",
        "manage": "Gerir cookies",
        "categories": "Categorias de cookies",
        "always-on": "Sempre ativos",
        "services": "Serviços",
        "vendor": "Fornecedor",
        "cookies": "Cookies",
        "retention": "Duração",
        "blocked": "{service} está bloqueado porque não aceitou os cookies de «{category}».",
        "load-once": "Carregar só desta vez",
        "always-allow": "Permitir sempre {service}",
        "error": "Não foi possível guardar a sua escolha. Tente novamente.",
        "narrowed": "A sua escolha indica mais serviços do que é possível guardar: alguns que "
        "tinha permitido um a um foram excluídos, como se mostra abaixo. Permita uma "
        "categoria inteira para os incluir a todos.",
        "gpc": "O seu navegador enviou um sinal Global Privacy Control. Respeitamo-lo: os "
        "cookies de {categories} permanecem desativados.",
        "reask": "A nossa política de cookies mudou desde a sua última escolha. Escolha "
        "novamente, por favor.",
        "my-records": "Os meus registos de consentimento",
        "erase": "Apagar os meus registos e a minha escolha",
        "do-not-sell": "Não vender nem partilhar as minhas informações pessoais",
        "opt-out": (
            "Os cookies opcionais estão ativos até que se oponha: escolha "
            "«Recusar todos» ou desmarque o que recusa e guarde. O sinal Global "
            "Privacy Control do seu navegador conta como oposição."
        ),
        "declaration": "Cookies e serviços utilizados neste site",
        "service": "Serviço",
        "purpose": "Finalidade",
        "lifetime": "Prazo de conservação",
        "this-site": "Este site",
        "site-purpose": (
            "Assegura o funcionamento do site e memoriza as suas escolhas sobre cookies."
        ),
        "no-services": "De momento, não há serviços nesta categoria.",
    },
    "pl": {
        "title": "Ustawienia prywatności",
        "body": "Wraz z naszymi partnerami używamy plików cookie w celach wymienionych "
        "poniżej. Można je zaakceptować, odrzucić lub wybrać według kategorii, a decyzję "
        "zmienić w dowolnym momencie w „Ustawieniach plików cookie”.",
        "purposes": "Cele:",
        "privacy": "Polityka prywatności",
        "cookie-policy": "Polityka plików cookie",
        "dpo": "Inspektor ochrony danych",
        "accept-all": "Zaakceptuj wszystkie",
        "reject-all": "Odrzuć wszystkie",
        "customize": "Dostosuj",
        "save": "Zapisz wybór",
        "close": "Zamknij: odrzuć wszystkie pliki cookie oprócz niezbędnych",
        "close-decided": "Zamknij",
        "manage": "Ustawienia plików cookie",
        "categories": "Kategorie plików cookie",
        "always-on": "Zawsze aktywne",
        "services": "Usługi",
        "vendor": "Dostawca",
        "cookies": "Pliki cookie",
        "retention": "Okres przechowywania",
        "blocked": "Usługa {service} jest zablokowana, ponieważ nie zaakceptowano plików "
        "cookie z kategorii „{category}”.",
        "load-once": "Załaduj jednorazowo",
        "always-allow": "Zawsze zezwalaj na {service}",
        "error": "Nie udało się zapisać wyboru. Prosimy spróbować ponownie.",
        "narrowed": "Wybór obejmuje więcej usług, niż można zapisać: część usług zezwolonych "
        "pojedynczo została pominięta, jak pokazano poniżej. Aby uwzględnić wszystkie, "
        "prosimy zezwolić na całą kategorię.",
        "gpc": "Przeglądarka wysłała sygnał Global Privacy Control. Respektujemy go: pliki "
        "cookie z kategorii {categories} pozostają wyłączone.",
        "reask": "Nasza polityka plików cookie zmieniła się od ostatniego wyboru. Prosimy "
        "wybrać ponownie.",
        "my-records": "Moje zapisy zgód",
        "erase": "Usuń moje zapisy i mój wybór",
        "do-not-sell": "Nie sprzedawaj ani nie udostępniaj moich danych osobowych",
        "opt-out": (
            "Opcjonalne pliki cookie pozostają włączone do momentu zgłoszenia "
            "sprzeciwu: wystarczy wybrać „Odrzuć wszystkie” albo odznaczyć "
            "niechciane kategorie i zapisać. Sygnał Global Privacy Control "
            "wysłany przez przeglądarkę jest traktowany jako sprzeciw."
        ),
        "declaration": "Pliki cookie i usługi używane w tym serwisie",
        "service": "Usługa",
        "purpose": "Cel",
        "lifetime": "Okres przechowywania",
        "this-site": "Ten serwis",
        "site-purpose": ("Zapewnia działanie serwisu i zapamiętuje wybór dotyczący plików cookie."),
        "no-services": "Obecnie brak usług w tej kategorii.",
    },
}
TEXT_KEYS = frozenset(TEXTS["en"])
# The {placeholders} each text may hold (filled in by banner.js or the renderer); any other
# {...} in an operator's text is refused by the config (a translated {catégories} broke
# every page, or showed "undefined").
PLACEHOLDERS = {
    "blocked": ("service", "category"),
    "always-allow": ("service",),
    "gpc": ("categories",),
}
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
LANGUAGES = tuple(TEXTS)

# The usual categories (the catalog's): (title, description) per language, for configs
# that name a category so and give it no words of their own.
CATEGORY_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "necessary": {
        "en": (
            "Strictly necessary",
            ("Needed for the site to work (session, security, your cookie choice). Always on."),
        ),
        "fr": (
            "Strictement nécessaires",
            (
                "Indispensables au fonctionnement du site (session, sécurité, votre choix sur "
                "les cookies). Toujours actifs."
            ),
        ),
        "de": (
            "Unbedingt erforderlich",
            (
                "Für den Betrieb der Website nötig (Sitzung, Sicherheit, Ihre Cookie-Auswahl). "
                "Immer aktiv."
            ),
        ),
        "es": (
            "Estrictamente necesarias",
            (
                "Imprescindibles para que el sitio funcione (sesión, seguridad, su elección "
                "sobre las cookies). Siempre activas."
            ),
        ),
        "it": (
            "Strettamente necessari",
            (
                "Indispensabili al funzionamento del sito (sessione, sicurezza, la sua scelta "
                "sui cookie). Sempre attivi."
            ),
        ),
        "nl": (
            "Strikt noodzakelijk",
            (
                "Nodig om de website te laten werken (sessie, beveiliging, uw cookiekeuze). "
                "Altijd actief."
            ),
        ),
        "pt": (
            "Estritamente necessários",
            (
                "Indispensáveis ao funcionamento do site (sessão, segurança, a sua escolha "
                "sobre cookies). Sempre ativos."
            ),
        ),
        "pl": (
            "Niezbędne",
            (
                "Potrzebne do działania serwisu (sesja, bezpieczeństwo, wybór dotyczący "
                "plików cookie). Zawsze aktywne."
            ),
        ),
    },
    "functional": {
        "en": (
            "Functional",
            (
                "Extra features such as chat, fonts or appointment booking, and remembering "
                "your preferences."
            ),
        ),
        "fr": (
            "Fonctionnels",
            (
                "Des fonctions en plus, comme la discussion en ligne, les polices de "
                "caractères ou la prise de rendez-vous, et la mémorisation de vos préférences."
            ),
        ),
        "de": (
            "Funktional",
            (
                "Zusätzliche Funktionen wie Chat, Schriftarten oder Terminbuchung sowie das "
                "Speichern Ihrer Einstellungen."
            ),
        ),
        "es": (
            "Funcionales",
            (
                "Funciones adicionales, como el chat, las fuentes tipográficas o la reserva de "
                "citas, y el recuerdo de sus preferencias."
            ),
        ),
        "it": (
            "Funzionali",
            (
                "Funzioni aggiuntive come la chat, i caratteri tipografici o la prenotazione di "
                "appuntamenti, e la memorizzazione delle sue preferenze."
            ),
        ),
        "nl": (
            "Functioneel",
            (
                "Extra functies zoals chat, lettertypen of het maken van afspraken, en het "
                "onthouden van uw voorkeuren."
            ),
        ),
        "pt": (
            "Funcionais",
            (
                "Funcionalidades adicionais, como o chat, os tipos de letra ou a marcação de "
                "reuniões, e a memorização das suas preferências."
            ),
        ),
        "pl": (
            "Funkcjonalne",
            (
                "Dodatkowe funkcje, takie jak czat, czcionki czy rezerwacja terminów, oraz "
                "zapamiętywanie preferencji."
            ),
        ),
    },
    "analytics": {
        "en": ("Audience measurement", "Counting visits and how pages are used."),
        "fr": ("Mesure d'audience", "Compter les visites et comprendre l'usage des pages."),
        "de": (
            "Reichweitenmessung",
            "Zählen die Besuche und zeigen, wie die Seiten genutzt werden.",
        ),
        "es": ("Medición de audiencia", "Cuentan las visitas y muestran cómo se usan las páginas."),
        "it": (
            "Misurazione del pubblico",
            "Contano le visite e mostrano come vengono usate le pagine.",
        ),
        "nl": (
            "Bezoekersstatistieken",
            "Tellen de bezoeken en laten zien hoe de pagina's worden gebruikt.",
        ),
        "pt": (
            "Medição de audiência",
            "Contam as visitas e mostram como as páginas são utilizadas.",
        ),
        "pl": ("Statystyka odwiedzin", "Liczą odwiedziny i pokazują, jak korzysta się ze stron."),
    },
    "advertising": {
        "en": ("Advertising", "Measuring and targeting ads."),
        "fr": ("Publicité", "Mesurer et cibler la publicité."),
        "de": ("Werbung", "Messen den Erfolg von Werbung und richten sie gezielt aus."),
        "es": ("Publicidad", "Miden y personalizan los anuncios."),
        "it": ("Pubblicità", "Misurano e personalizzano gli annunci."),
        "nl": ("Advertenties", "Meten advertenties en stemmen ze op u af."),
        "pt": ("Publicidade", "Medem e direcionam os anúncios."),
        "pl": ("Reklama", "Mierzą skuteczność reklam i dopasowują je do odbiorców."),
    },
    "social": {
        "en": (
            "Social networks and videos",
            "Videos, maps and share buttons from other sites, which may track you.",
        ),
        "fr": (
            "Réseaux sociaux et vidéos",
            "Vidéos, cartes et boutons de partage d'autres sites, qui peuvent vous suivre.",
        ),
        "de": (
            "Soziale Netzwerke und Videos",
            (
                "Videos, Karten und Teilen-Schaltflächen anderer Websites, die Ihr Verhalten "
                "verfolgen können."
            ),
        ),
        "es": (
            "Redes sociales y vídeos",
            (
                "Vídeos, mapas y botones para compartir de otros sitios, que pueden seguir su "
                "actividad."
            ),
        ),
        "it": (
            "Social network e video",
            (
                "Video, mappe e pulsanti di condivisione di altri siti, che possono tracciare "
                "la sua navigazione."
            ),
        ),
        "nl": (
            "Sociale media en video's",
            "Video's, kaarten en deelknoppen van andere websites, die u kunnen volgen.",
        ),
        "pt": (
            "Redes sociais e vídeos",
            (
                "Vídeos, mapas e botões de partilha de outros sites, que podem seguir a sua "
                "navegação."
            ),
        ),
        "pl": (
            "Media społecznościowe i filmy",
            (
                "Filmy, mapy i przyciski udostępniania z innych serwisów, które mogą śledzić "
                "aktywność użytkownika."
            ),
        ),
    },
}


# --- cookie lifetimes ------------------------------------------------------------------
# "2 years (_ga), 24 hours (_gid)", "up to 13 months (Google's own cookies)", "session (YSC)
# to 6 months (VISITOR_INFO1_LIVE)", "no cookies of its own": the catalog's (and most
# configs') lifetimes are these few words around numbers and cookie names. Each unit gives
# its forms: one, few (Polish 2-4), many; then the same after "up to" (German dative,
# Polish genitive).
_UNIT_FORMS: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {
        "minute": ("minute", "minutes"),
        "hour": ("heure", "heures"),
        "day": ("jour", "jours"),
        "week": ("semaine", "semaines"),
        "month": ("mois", "mois"),
        "year": ("an", "ans"),
    },
    "de": {
        "minute": ("Minute", "Minuten"),
        "hour": ("Stunde", "Stunden"),
        "day": ("Tag", "Tage", "Tag", "Tagen"),
        "week": ("Woche", "Wochen"),
        "month": ("Monat", "Monate", "Monat", "Monaten"),
        "year": ("Jahr", "Jahre", "Jahr", "Jahren"),
    },
    "es": {
        "minute": ("minuto", "minutos"),
        "hour": ("hora", "horas"),
        "day": ("día", "días"),
        "week": ("semana", "semanas"),
        "month": ("mes", "meses"),
        "year": ("año", "años"),
    },
    "it": {
        "minute": ("minuto", "minuti"),
        "hour": ("ora", "ore"),
        "day": ("giorno", "giorni"),
        "week": ("settimana", "settimane"),
        "month": ("mese", "mesi"),
        "year": ("anno", "anni"),
    },
    "nl": {
        "minute": ("minuut", "minuten"),
        "hour": ("uur", "uur"),
        "day": ("dag", "dagen"),
        "week": ("week", "weken"),
        "month": ("maand", "maanden"),
        "year": ("jaar", "jaar"),
    },
    "pt": {
        "minute": ("minuto", "minutos"),
        "hour": ("hora", "horas"),
        "day": ("dia", "dias"),
        "week": ("semana", "semanas"),
        "month": ("mês", "meses"),
        "year": ("ano", "anos"),
    },
    # one, few, many; after "do": one, other (genitive)
    "pl": {
        "minute": ("minuta", "minuty", "minut", "minuty", "minut"),
        "hour": ("godzina", "godziny", "godzin", "godziny", "godzin"),
        "day": ("dzień", "dni", "dni", "dnia", "dni"),
        "week": ("tydzień", "tygodnie", "tygodni", "tygodnia", "tygodni"),
        "month": ("miesiąc", "miesiące", "miesięcy", "miesiąca", "miesięcy"),
        "year": ("rok", "lata", "lat", "roku", "lat"),
    },
}
# The words around the numbers: "up to", "session", "no cookies", "no cookies of its own",
# "{owner}'s own cookies", "on {host}".
_RETENTION_WORDS: dict[str, tuple[str, str, str, str, str, str]] = {
    "fr": (
        "jusqu'à",
        "session",
        "aucun cookie",
        "aucun cookie propre",
        "cookies propres à {owner}",
        "sur {host}",
    ),
    "de": (
        "bis zu",
        "Sitzung",
        "keine Cookies",
        "keine eigenen Cookies",
        "eigene Cookies von {owner}",
        "auf {host}",
    ),
    "es": (
        "hasta",
        "sesión",
        "ninguna cookie",
        "ninguna cookie propia",
        "cookies propias de {owner}",
        "en {host}",
    ),
    "it": (
        "fino a",
        "sessione",
        "nessun cookie",
        "nessun cookie proprio",
        "cookie propri di {owner}",
        "su {host}",
    ),
    "nl": (
        "tot",
        "sessie",
        "geen cookies",
        "geen eigen cookies",
        "eigen cookies van {owner}",
        "op {host}",
    ),
    "pt": (
        "até",
        "sessão",
        "nenhum cookie",
        "nenhum cookie próprio",
        "cookies próprios de {owner}",
        "em {host}",
    ),
    "pl": (
        "do",
        "sesja",
        "brak plików cookie",
        "brak własnych plików cookie",
        "własne pliki cookie serwisu {owner}",
        "w domenie {host}",
    ),
}
_DURATION = re.compile(r"(up to )?(\d+) (minute|hour|day|week|month|year)s?\b")
_OWN = re.compile(r"\(([^()]+)'s own cookies\)")
_ON = re.compile(r", on ([a-z0-9.-]+\.[a-z]{2,})\)")
_NAMES = re.compile(r"\([^()]*\)")


def _unit(lang: str, n: int, unit: str, up_to: bool) -> str:
    forms = _UNIT_FORMS[lang][unit]
    if lang == "pl":
        if up_to:
            return forms[3] if n == 1 else forms[4]
        few = n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14)
        return forms[0] if n == 1 else forms[1] if few else forms[2]
    if up_to and len(forms) == 4:
        return forms[2] if n == 1 else forms[3]
    return forms[0] if n == 1 else forms[1]


_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 30.44, "year": 365.25}
_THEIRS = re.compile(r" \([^()]*(?:'s own cookies|, on [^()]*)\)")  # (on their own domain)


def lifetime_shown(text: str, lang: str, cap_days: int) -> str:
    """A service's lifetime as people read it: in their language (as written where the
    grammar lacks words), and a cookie of the site's kept longer than the proxy lets it
    (cap_cookie_lifetime_days) shown as cut to that: "2 years (_ga)" is 13 months here. A
    vendor's cookies on its own domain the proxy never sees: those stay as declared."""

    def cut(m: re.Match[str]) -> str:
        if int(m.group(2)) * _DAYS[m.group(3)] <= cap_days + 1 or _THEIRS.match(text, m.end()):
            return m.group(0)
        months = round(cap_days / _DAYS["month"])
        near = abs(months * _DAYS["month"] - cap_days) < 1
        n, unit = (months, "month") if near else (cap_days, "day")
        return f"{m.group(1) or ''}{n} {unit}{'' if n == 1 else 's'}"

    capped = _DURATION.sub(cut, text)
    return localise_retention(capped, lang) or capped


def localise_retention(text: str, lang: str) -> str | None:
    """A lifetime in the language's words; None when it holds words outside this small
    grammar or for a language it has no words for (the operator's own: the caller then
    shows the operator's text as written)."""
    if lang == "en" or not text:
        return text
    if lang not in _RETENTION_WORDS:
        return None
    rest = _NAMES.sub("", _DURATION.sub("", _ON.sub(")", _OWN.sub("", text))))
    if re.sub(r"\b(no cookies of its own|no cookies|session|to)\b|[\s,]", "", rest):
        return None  # words this grammar does not know
    up_to, session, none, none_own, own, on = _RETENTION_WORDS[lang]

    def duration(m: re.Match[str]) -> str:
        n = int(m.group(2))
        unit = _unit(lang, n, m.group(3), bool(m.group(1)))
        return (f"{up_to} " if m.group(1) else "") + f"{n} {unit}"

    out = _OWN.sub(lambda m: f"({own.format(owner=m.group(1))})", text)
    out = _ON.sub(lambda m: f", {on.format(host=m.group(1))})", out)
    out = _DURATION.sub(duration, out)
    out = re.sub(r"\bno cookies of its own\b", none_own, out)
    out = re.sub(r"\bno cookies\b", none, out)
    out = re.sub(r"^session\b", session, out)
    return re.sub(r"\) to ", ") – ", out)
