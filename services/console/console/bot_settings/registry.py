"""Every settings section by its name in the URL, in the order the page lists them."""

from __future__ import annotations

from console.bot_settings.base import SectionForm
from console.bot_settings.budget import BudgetForm
from console.bot_settings.core import DebounceForm, HandoverForm, HoursForm, ModelForm, PersonaForm
from console.bot_settings.more import ContactsForm, FollowupsForm, OptOutForm, ToolsForm

SECTIONS: dict[str, type[SectionForm]] = {
    cls.section: cls
    for cls in (
        PersonaForm,
        ModelForm,
        HoursForm,
        DebounceForm,
        HandoverForm,
        FollowupsForm,
        OptOutForm,
        ContactsForm,
        ToolsForm,
        BudgetForm,
    )
}
