//! The macros of Heartbeat: `#[outcome]` and `#[derive(OutcomeReason)]`.
//!
//! Use them through the `heartbeat-sdk` crate (library `heartbeat`) with its `macros` feature
//! (`#[heartbeat::outcome]`, `#[derive(heartbeat::OutcomeReason)]`): the expansion calls
//! `::heartbeat::__private`.
//! Names and reasons are checked here, at compile time, by the same rules as the SDK's
//! (`heartbeat_core::validate`).
//!
//! This crate has no features of its own; the SDK's `macros` feature turns it on.

use heartbeat_core::validate;
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Data, DeriveInput, Fields, ItemFn, Lifetime, LitStr, Path, ReturnType, Token, Type,
    parse_macro_input,
};

/// Counts each call of a function returning `Result` as an outcome: `Ok` a success, `Err` a
/// failure with the error's [`OutcomeReason`] (or `error`), a panic `panicked` (the panic goes
/// on), an async call dropped before its end `abandoned`.
///
/// The outcome is named by the argument (`#[outcome("message.send")]` or
/// `#[outcome(name = "message.send")]`) or by the function's name. It is declared, with its
/// reasons, when `heartbeat::set_global` is called, so it is exported at zero from then on;
/// before that the function runs normally and counts nothing.
///
/// [`OutcomeReason`]: https://docs.rs/heartbeat-sdk/latest/heartbeat/trait.OutcomeReason.html
#[proc_macro_attribute]
pub fn outcome(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let item = parse_macro_input!(item as ItemFn);
    match expand_outcome(args, item) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Implements `OutcomeReason` for an error enum (each variant's name in snake case) or struct
/// (its name in snake case).
#[proc_macro_derive(OutcomeReason, attributes(heartbeat))]
pub fn derive_outcome_reason(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand_reason(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    krate: Option<Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if input.peek(LitStr) {
                args.name = Some(input.parse()?);
            } else if input.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                args.krate = Some(input.parse()?);
            } else {
                let key: syn::Ident = input.parse()?;
                if key != "name" {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{key}` of #[heartbeat::outcome]: expected \"name\", name = \"...\" or crate = path"
                        ),
                    ));
                }
                input.parse::<Token![=]>()?;
                args.name = Some(input.parse()?);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// Replaces named lifetimes with `'_`, so a type of the signature can be written in the body.
struct Unname;

impl VisitMut for Unname {
    fn visit_lifetime_mut(&mut self, l: &mut Lifetime) {
        if l.ident != "static" {
            *l = Lifetime::new("'_", l.span());
        }
    }
}

/// Whether a type names `Self` or `impl Trait` (it cannot be written in a nested item).
fn names_self_or_impl(ty: &Type) -> bool {
    let text = quote!(#ty).to_string();
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w == "Self" || w == "impl")
}

fn expand_outcome(args: Args, mut item: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &item.sig;
    let krate = args.krate.unwrap_or_else(|| syn::parse_quote!(::heartbeat));
    let ret: Type = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                format!(
                    "#[heartbeat::outcome] needs a function that returns `Result<T, E>`, and `{}` returns nothing",
                    sig.ident
                ),
            ));
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(problem) = not_a_result(&ret) {
        return Err(syn::Error::new(
            ret.span(),
            format!(
                "#[heartbeat::outcome] needs a function that returns `Result<T, E>`, and `{}` returns `{}`{problem}",
                sig.ident,
                quote!(#ret).to_string().replace(' ', "")
            ),
        ));
    }
    let (name, name_span) = match &args.name {
        Some(lit) => (lit.value(), lit.span()),
        None => (sig.ident.to_string(), sig.ident.span()),
    };
    if let Some(problem) = validate::name_problem(&name) {
        return Err(syn::Error::new(
            name_span,
            format!(
                "invalid outcome name \"{name}\": {}; name it with #[heartbeat::outcome(\"a.valid.name\")] (letters, digits, '_', '.', '-', '/', starting with a letter)",
                problem.message()
            ),
        ));
    }
    let generic = item
        .sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
        || names_self_or_impl(&ret);
    let mut body_ret = ret.clone();
    Unname.visit_type_mut(&mut body_ret);
    let err = quote!(<#body_ret as #krate::__private::IsResult>::Err);
    // The registration: reasons from the error type, unless the type cannot be named in a
    // nested item (generics, `Self`): then `error`, the same as at run time.
    let (reasons_fn, reason_expr) = if generic {
        (
            quote! {
                fn __heartbeat_reasons() -> &'static [&'static str] {
                    &[#krate::__private::REASON_ERROR]
                }
            },
            quote! {
                |_: &#err| -> &'static str { #krate::__private::REASON_ERROR }
            },
        )
    } else {
        (
            quote! {
                fn __heartbeat_reasons() -> &'static [&'static str] {
                    #[allow(unused_imports)]
                    use #krate::__private::{ViaDefault as _, ViaOutcomeReason as _};
                    (&&#krate::__private::Probe::<#err>::new()).reasons()
                }
            },
            quote! {
                |__heartbeat_error: &#err| -> &'static str {
                    #[allow(unused_imports)]
                    use #krate::__private::{ViaDefault as _, ViaOutcomeReason as _};
                    (&&#krate::__private::Probe::<#err>::new()).reason(__heartbeat_error)
                }
            },
        )
    };
    let body = &item.block;
    let ret_check = quote_spanned! {ret.span()=>
        let _: ::core::marker::PhantomData<#err> = ::core::marker::PhantomData;
    };
    let run = if item.sig.asyncness.is_some() {
        quote! {
            #krate::__private::observe::<#body_ret, _>(
                __HEARTBEAT_SITE.outcome().start(),
                #reason_expr,
                #krate::__private::annotate::<#body_ret, _>(async move #body),
            )
            .await
        }
    } else {
        quote! {
            let __heartbeat_guard = __HEARTBEAT_SITE.outcome().start();
            #[allow(clippy::redundant_closure_call)]
            let __heartbeat_result: #body_ret = (move || -> #body_ret #body)();
            #krate::__private::resolve(__heartbeat_guard, &__heartbeat_result, #reason_expr);
            __heartbeat_result
        }
    };
    let new_body = quote! {
        {
            #ret_check
            #reasons_fn
            static __HEARTBEAT_SITE: #krate::__private::Site =
                #krate::__private::Site::new(#name, __heartbeat_reasons);
            #krate::__private::inventory::submit! {
                #krate::__private::Registration(&__HEARTBEAT_SITE)
            }
            #run
        }
    };
    *item.block = syn::parse2(new_body)?;
    Ok(quote!(#item))
}

/// Why a return type is certainly not a `Result`, if it is (a path whose last segment does not
/// say `Result`, a tuple, a reference...). Aliases named `...Result` are checked by the trait.
fn not_a_result(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if last.ident.to_string().contains("Result") {
                None
            } else {
                Some(
                    " (Ok counts a success, Err a failure; a type alias of Result must have `Result` in its name)",
                )
            }
        }
        Type::Group(g) => not_a_result(&g.elem),
        Type::Paren(p) => not_a_result(&p.elem),
        Type::ImplTrait(_) => Some(" (write the Result type, not `impl Trait`)"),
        _ => Some(" (Ok counts a success, Err a failure)"),
    }
}

fn snake_case(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) => {
                    p.is_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
                }
                None => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn checked_reason(ident: &syn::Ident) -> syn::Result<String> {
    let reason = snake_case(&ident.to_string());
    match validate::reason_check(&reason) {
        None => Ok(reason),
        Some(problem) => Err(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` makes the failure reason \"{reason}\": {} (1 to 63 bytes of lowercase ASCII letters, digits and '_', starting with a letter)",
                problem.message()
            ),
        )),
    }
}

fn expand_reason(input: DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let krate: Path = syn::parse_quote!(::heartbeat);
    let (generics_impl, generics_ty, where_clause) = input.generics.split_for_impl();
    let (reasons, body) = match &input.data {
        Data::Enum(e) => {
            if e.variants.is_empty() {
                return Err(syn::Error::new(
                    ident.span(),
                    "#[derive(OutcomeReason)] needs an enum with at least one variant",
                ));
            }
            let mut reasons = Vec::new();
            let mut arms = Vec::new();
            for v in &e.variants {
                let reason = checked_reason(&v.ident)?;
                let vi = &v.ident;
                let pattern = match &v.fields {
                    Fields::Named(_) => quote!(Self::#vi { .. }),
                    Fields::Unnamed(_) => quote!(Self::#vi(..)),
                    Fields::Unit => quote!(Self::#vi),
                };
                arms.push(quote!(#pattern => #reason,));
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            (reasons, quote!(match self { #(#arms)* }))
        }
        Data::Struct(_) => {
            let reason = checked_reason(ident)?;
            (vec![reason.clone()], quote!(#reason))
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "#[derive(OutcomeReason)] works on an enum or a struct, not a union",
            ));
        }
    };
    if reasons.len() > validate::MAX_REASONS {
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` has {} variants, more than the {} failure reasons an outcome may declare",
                reasons.len(),
                validate::MAX_REASONS
            ),
        ));
    }
    Ok(quote! {
        impl #generics_impl #krate::OutcomeReason for #ident #generics_ty #where_clause {
            const REASONS: &'static [&'static str] = &[#(#reasons),*];
            #[allow(unreachable_code)]
            fn reason(&self) -> &'static str {
                #body
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn variant_names_become_snake_case() {
        assert_eq!(snake_case("TimedOut"), "timed_out");
        assert_eq!(snake_case("HTTPError"), "http_error");
        assert_eq!(snake_case("Status5xx"), "status5xx");
        assert_eq!(snake_case("Rejected"), "rejected");
    }
}
