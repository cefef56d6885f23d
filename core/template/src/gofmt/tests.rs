use super::*;

fn f(format: &str, args: &[Value]) -> Result<String, FuncError> {
    sprintf(format, args)
}

#[test]
fn verbs_flags_and_markers() {
    let args = [Value::from(42), Value::from("ab"), Value::from(255)];
    assert_eq!(f("%5d|%-4s|%#x", &args).unwrap(), "   42|ab  |0xff");
    assert_eq!(f("%d %d", &[Value::from(1)]).unwrap(), "1 %!d(MISSING)");
    assert_eq!(
        f("%s", &[Value::from(1), Value::from(2)]).unwrap(),
        "%!s(int=1)%!(EXTRA int=2)"
    );
    assert_eq!(
        sprint(&[Value::from("a"), Value::from(1), Value::from(2)]).unwrap(),
        "a1 2"
    );
    assert_eq!(
        sprint1(&Value::Array(vec![Value::from(1), Value::Nil])).unwrap(),
        "[1 <nil>]"
    );
}

#[test]
fn widths_and_results_are_capped() {
    let one = [Value::from(1)];
    let e = f("%1048577d", &one).unwrap_err();
    assert!(format!("{e:?}").contains("printf width 1048577 over the limit 1048576"));
    let e = f("%.1048577f", &[Value::from(1.5)]).unwrap_err();
    assert!(format!("{e:?}").contains("printf precision 1048577 over the limit"));
    assert_eq!(f("%1048576d", &one).unwrap().len(), 1 << 20);
    let two = [Value::from(1), Value::from(2)];
    let e = f("%1048576d%1048576d", &two).unwrap_err();
    assert!(format!("{e:?}").contains("printf: result of 2097152 bytes"));
    let list = Value::Array(vec![Value::from(1), Value::from(2)]);
    let e = f("%1048576v", &[list]).unwrap_err();
    assert!(format!("{e:?}").contains("printf: result of"));
}

#[test]
fn floats_in_go_form() {
    assert_eq!(shortest_g(0.000012, false), "1.2e-05");
    assert_eq!(shortest_g(123456.5, false), "123456.5");
    assert_eq!(plain_decimal("15", -1), "0.15");
    assert_eq!(shortest_digits(1500.0), ("15".to_owned(), 3));
}
