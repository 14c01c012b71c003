/**
 * Subjects of the three benchmarks and how their published scripts group them into categories (facts of each
 * benchmark's release: C-Eval's subject_mapping.json and Hard list, CMMLU's categories, MMLU's categories).
 */

export interface SubjectInfo {
  /** file-name key, e.g. "computer_network". */
  name: string;
  /** display name in the benchmark's language (C-Eval / CMMLU: Chinese; MMLU: English). */
  title: string;
  /** categories the subject is averaged into (CMMLU's "China specific" overlaps the four others). */
  categories: string[];
}

function table(spec: string, cat: (fields: string[]) => string[]): SubjectInfo[] {
  return spec
    .trim()
    .split('\n')
    .map((l) => {
      const f = l.trim().split('|');
      return { name: f[0], title: f[1], categories: cat(f) };
    });
}

// ---- C-Eval: 52 subjects, 4 categories; "Hard" = 8 STEM subjects. clinical_medicine has no category in the
// released subject_mapping.json; Qwen's and Steel's scripts count it under Other, as we do.
const CEVAL_CAT: Record<string, string> = { S: 'STEM', SS: 'Social Science', H: 'Humanities', O: 'Other' };
export const CEVAL_SUBJECTS = table(
  `
computer_network|计算机网络|S
operating_system|操作系统|S
computer_architecture|计算机组成|S
college_programming|大学编程|S
college_physics|大学物理|S
college_chemistry|大学化学|S
advanced_mathematics|高等数学|S
probability_and_statistics|概率统计|S
discrete_mathematics|离散数学|S
electrical_engineer|注册电气工程师|S
metrology_engineer|注册计量师|S
high_school_mathematics|高中数学|S
high_school_physics|高中物理|S
high_school_chemistry|高中化学|S
high_school_biology|高中生物|S
middle_school_mathematics|初中数学|S
middle_school_biology|初中生物|S
middle_school_physics|初中物理|S
middle_school_chemistry|初中化学|S
veterinary_medicine|兽医学|S
college_economics|大学经济学|SS
business_administration|工商管理|SS
marxism|马克思主义基本原理|SS
mao_zedong_thought|毛泽东思想和中国特色社会主义理论体系概论|SS
education_science|教育学|SS
teacher_qualification|教师资格|SS
high_school_politics|高中政治|SS
high_school_geography|高中地理|SS
middle_school_politics|初中政治|SS
middle_school_geography|初中地理|SS
modern_chinese_history|近代史纲要|H
ideological_and_moral_cultivation|思想道德修养与法律基础|H
logic|逻辑学|H
law|法学|H
chinese_language_and_literature|中国语言文学|H
art_studies|艺术学|H
professional_tour_guide|导游资格|H
legal_professional|法律职业资格|H
high_school_chinese|高中语文|H
high_school_history|高中历史|H
middle_school_history|初中历史|H
civil_servant|公务员|O
sports_science|体育学|O
plant_protection|植物保护|O
basic_medicine|基础医学|O
clinical_medicine|临床医学|O
urban_and_rural_planner|注册城乡规划师|O
accountant|注册会计师|O
fire_engineer|注册消防工程师|O
environmental_impact_assessment_engineer|环境影响评价工程师|O
tax_accountant|税务师|O
physician|医师资格|O
`,
  (f) => [CEVAL_CAT[f[2]]],
);
export const CEVAL_HARD = [
  'advanced_mathematics',
  'discrete_mathematics',
  'probability_and_statistics',
  'college_chemistry',
  'college_physics',
  'high_school_mathematics',
  'high_school_chemistry',
  'high_school_physics',
];
for (const s of CEVAL_SUBJECTS) if (CEVAL_HARD.includes(s.name)) s.categories.push('Hard');
export const CEVAL_CATEGORIES = ['STEM', 'Social Science', 'Humanities', 'Other', 'Hard'];

// ---- CMMLU: 67 subjects; subcategory -> category as in its release; "China specific" is an extra category.
const CMMLU_SUB2CAT: Record<string, string> = {
  physics: 'STEM',
  chemistry: 'STEM',
  biology: 'STEM',
  'computer science': 'STEM',
  math: 'STEM',
  engineering: 'STEM',
  statistics: 'STEM',
  history: 'Humanities',
  philosophy: 'Humanities',
  law: 'Humanities',
  arts: 'Humanities',
  literature: 'Humanities',
  global: 'Humanities',
  linguistics: 'Social Science',
  business: 'Social Science',
  politics: 'Social Science',
  culture: 'Social Science',
  economics: 'Social Science',
  geography: 'Social Science',
  psychology: 'Social Science',
  education: 'Social Science',
  sociology: 'Social Science',
  other: 'Other',
  'china specific': 'China specific',
};
export const CMMLU_SUBJECTS = table(
  `
agronomy|农学|other
anatomy|解剖学|biology
ancient_chinese|古汉语|linguistics,china specific
arts|艺术学|arts
astronomy|天文学|physics
business_ethics|商业伦理|business
chinese_civil_service_exam|中国公务员考试|politics,china specific
chinese_driving_rule|中国驾驶规则|other,china specific
chinese_food_culture|中国饮食文化|culture,china specific
chinese_foreign_policy|中国外交政策|politics,china specific
chinese_history|中国历史|history,china specific
chinese_literature|中国文学|literature,china specific
chinese_teacher_qualification|中国教师资格|education,china specific
clinical_knowledge|临床知识|other
college_actuarial_science|大学精算学|math
college_education|大学教育学|education
college_engineering_hydrology|大学工程水文学|engineering
college_law|大学法律|law
college_mathematics|大学数学|math
college_medical_statistics|大学医学统计|statistics
college_medicine|大学医学|other
computer_science|计算机科学|computer science
computer_security|计算机安全|other
conceptual_physics|概念物理学|physics
construction_project_management|建设工程管理|other,china specific
economics|经济学|economics
education|教育学|education
electrical_engineering|电气工程|engineering
elementary_chinese|小学语文|linguistics,china specific
elementary_commonsense|小学常识|other,china specific
elementary_information_and_technology|小学信息技术|other
elementary_mathematics|初等数学|math
ethnology|民族学|culture,china specific
food_science|食品科学|other
genetics|遗传学|biology
global_facts|全球事实|global
high_school_biology|高中生物|biology
high_school_chemistry|高中化学|chemistry
high_school_geography|高中地理|geography
high_school_mathematics|高中数学|math
high_school_physics|高中物理学|physics
high_school_politics|高中政治|politics,china specific
human_sexuality|人类性行为|other
international_law|国际法学|law
journalism|新闻学|sociology
jurisprudence|法理学|law
legal_and_moral_basis|法律与道德基础|other
logical|逻辑学|philosophy
machine_learning|机器学习|computer science
management|管理学|business
marketing|市场营销|business
marxist_theory|马克思主义理论|philosophy
modern_chinese|现代汉语|linguistics,china specific
nutrition|营养学|other
philosophy|哲学|philosophy
professional_accounting|专业会计|business
professional_law|专业法学|law
professional_medicine|专业医学|other
professional_psychology|专业心理学|psychology
public_relations|公共关系|politics
security_study|安全研究|politics
sociology|社会学|culture
sports_science|体育学|other
traditional_chinese_medicine|中医中药|other,china specific
virology|病毒学|biology
world_history|世界历史|history
world_religions|世界宗教|global
`,
  (f) => f[2].split(',').map((s) => CMMLU_SUB2CAT[s]),
);
export const CMMLU_CATEGORIES = ['STEM', 'Humanities', 'Social Science', 'Other', 'China specific'];

// ---- MMLU: 57 subjects; subcategory -> 4 categories as in its release.
const MMLU_SUB2CAT: Record<string, string> = {
  physics: 'STEM',
  chemistry: 'STEM',
  biology: 'STEM',
  'computer science': 'STEM',
  math: 'STEM',
  engineering: 'STEM',
  history: 'Humanities',
  philosophy: 'Humanities',
  law: 'Humanities',
  politics: 'Social Sciences',
  culture: 'Social Sciences',
  economics: 'Social Sciences',
  geography: 'Social Sciences',
  psychology: 'Social Sciences',
  other: 'Other',
  business: 'Other',
  health: 'Other',
};
export const MMLU_SUBJECTS = table(
  `
abstract_algebra|abstract algebra|math
anatomy|anatomy|health
astronomy|astronomy|physics
business_ethics|business ethics|business
clinical_knowledge|clinical knowledge|health
college_biology|college biology|biology
college_chemistry|college chemistry|chemistry
college_computer_science|college computer science|computer science
college_mathematics|college mathematics|math
college_medicine|college medicine|health
college_physics|college physics|physics
computer_security|computer security|computer science
conceptual_physics|conceptual physics|physics
econometrics|econometrics|economics
electrical_engineering|electrical engineering|engineering
elementary_mathematics|elementary mathematics|math
formal_logic|formal logic|philosophy
global_facts|global facts|other
high_school_biology|high school biology|biology
high_school_chemistry|high school chemistry|chemistry
high_school_computer_science|high school computer science|computer science
high_school_european_history|high school european history|history
high_school_geography|high school geography|geography
high_school_government_and_politics|high school government and politics|politics
high_school_macroeconomics|high school macroeconomics|economics
high_school_mathematics|high school mathematics|math
high_school_microeconomics|high school microeconomics|economics
high_school_physics|high school physics|physics
high_school_psychology|high school psychology|psychology
high_school_statistics|high school statistics|math
high_school_us_history|high school us history|history
high_school_world_history|high school world history|history
human_aging|human aging|health
human_sexuality|human sexuality|culture
international_law|international law|law
jurisprudence|jurisprudence|law
logical_fallacies|logical fallacies|philosophy
machine_learning|machine learning|computer science
management|management|business
marketing|marketing|business
medical_genetics|medical genetics|health
miscellaneous|miscellaneous|other
moral_disputes|moral disputes|philosophy
moral_scenarios|moral scenarios|philosophy
nutrition|nutrition|health
philosophy|philosophy|philosophy
prehistory|prehistory|history
professional_accounting|professional accounting|other
professional_law|professional law|law
professional_medicine|professional medicine|health
professional_psychology|professional psychology|psychology
public_relations|public relations|politics
security_studies|security studies|politics
sociology|sociology|culture
us_foreign_policy|us foreign policy|politics
virology|virology|health
world_religions|world religions|philosophy
`,
  (f) => [MMLU_SUB2CAT[f[2]]],
);
export const MMLU_CATEGORIES = ['STEM', 'Humanities', 'Social Sciences', 'Other'];
